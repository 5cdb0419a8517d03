"""Where evaluations run: inline or a pool of local worker processes (`pool`), Ray actors
(`ray`), how a batch is split into chunks (`chunks`), workers that die with their parent
(`lifeline`), how many workers this machine holds (`capacity`, `cgroup`) and the checked
`--workers` / `--executor` choices (`choice`). Not what an evaluation does: that is
`nasforge.evaluator.local`."""
