"""HOW a candidate is trained and measured (the only torch-heavy corner).

`protocol` (the `Evaluator` contract), `local` / `train` / `measure` / `precision` /
`seeding` (one candidate on one device), `checkpoint_writer` (its saved weights), `fused/`
(many candidates as one stacked model), `executors/` (inline, a process pool, Ray) and
`data/` (datasets -> preloaded tensors). Made from a config by `nasforge.evaluator_setup`;
never imports strategies, the store or the UI.
"""
