"""The torch side of the built-in plan ops: one module per op kind (`build`, `check`), named
as `searchspace/op_specs.py` says; shared rules (padding) in their own modules."""
