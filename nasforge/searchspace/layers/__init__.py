"""Layer registries: activations and normalizations by name (see each module for the list).

Names are resolved once, in `nasforge.searchspace.build`; blocks receive the factories.
"""

from __future__ import annotations

from nasforge.searchspace.layers.activations import ACTIVATIONS, ActivationFactory
from nasforge.searchspace.layers.norms import NORMS, NormFactory

__all__ = ["ACTIVATIONS", "NORMS", "ActivationFactory", "NormFactory"]
