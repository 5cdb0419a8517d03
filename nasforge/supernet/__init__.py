"""Weight-sharing supernets (Once-for-All / BigNAS style) over the typed search space.

- `slots.py`: which shared tensor each layer of a subnet's plan reads (torch-free);
- `rules.py`: how each op kind becomes elastic (the `elastic` rule of its op spec);
- `model.py`: `Supernet`: `forward(x, arch)` and `extract(arch)` (a standalone model);
- `train.py`: sandwich-rule training with in-place distillation, BN recalibration;
- `evaluator.py`: inherited-weight evaluation of subnets (``inherited_*`` metrics);
- `search.py`: the supernet search driver that `nasforge.search.Search` hands over to.
"""
