"""Weight-sharing supernets (Once-for-All / BigNAS style) over the typed search space.

- `slots.py`: which shared tensor each layer of a subnet's plan reads (torch-free);
  `block_slots.py`: the same for `mbconv` (stem, stage s block b expand / depthwise / se /
  project, head, classifier);
- `rules.py`: how each op kind becomes elastic (the `elastic` rule of its op spec);
  `conv.py` (strided and depthwise convs, OFA's kernel transformation), `residual.py`,
  `squeeze_excite.py`, `resize.py`: the rules of those ops;
- `importance.py`: expanded channels re-sorted by importance (OFA's elastic expansion);
- `progressive.py`: progressive shrinking (an option of the training);
- `model.py`: `Supernet`: `forward(x, arch)` and `extract(arch)` (a standalone model);
- `train.py`: sandwich-rule training with in-place distillation, BN recalibration;
- `evaluator.py`: inherited-weight evaluation of subnets (``inherited_*`` metrics);
- `search.py`: the supernet search driver that `nasforge.search.Search` hands over to.
"""
