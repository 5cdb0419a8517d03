"""Export of a trial: standalone model.py (`codegen`), weights and ONNX (`bundle`).

`codegen` is torch-free (plan + metadata -> source); `weights`, `onnx_check` and `bundle`
need torch; `select` chooses trials from a store and `retrain` trains one afresh.
"""

from __future__ import annotations

from nasforge.export.codegen import GeneratedModel, ModelMeta, generate, layer_names

__all__ = ["GeneratedModel", "ModelMeta", "generate", "layer_names"]
