"""The torch side of the built-in plan ops: one module per op kind (`build(op, ctx)`,
`check(op)`), named as `searchspace/op_specs.py` says. Shared parts have their own modules:
`context` (`BuildCtx`, what `build` receives), `layer` (the norm / activation check) and
`padding` (the 'same' padding rule)."""
