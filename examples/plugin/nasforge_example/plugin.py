"""The entry point (``nasforge.plugins`` group): importing this module registers the plugin's
parts. It stays torch-free: the layer classes are named by reference and imported when a
layer is first built, so `nasforge list` and friends start as fast as without the plugin."""

from __future__ import annotations

from nasforge import (
    register_activation,
    register_dataset,
    register_family,
    register_norm,
    register_table,
)
from nasforge_example.data import load_rings
from nasforge_example.resmlp import ResMLPFamily
from nasforge_example.table import example_table

register_activation("sqrelu", "nasforge_example.layers:SquaredReLU", params=0,
                    fused="elementwise", summary="Squared ReLU: max(x, 0)^2.")
register_norm("scaled_rms", "nasforge_example.layers:ScaledRMSNorm",
              params=lambda channels, dims: channels + 1, fused="not_stackable",
              prefix="srms", summary="RMS norm with a per-channel gain and a shared scale.")
register_family("resmlp", ResMLPFamily)
register_dataset("rings", load_rings)
register_table("example_table", example_table)
