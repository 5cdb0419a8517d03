"""Where evaluations run: inline or a pool of local worker processes (`pool`), Ray actors
(`ray`), how a batch is split into chunks (`chunks`), and how many workers this machine holds
(`capacity`, `cgroup`). Not what an evaluation does: that is `nasforge.evaluator.local`."""
