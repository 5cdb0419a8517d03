"""Zero-cost proxies: scores of a freshly initialised network from one mini-batch, in
milliseconds (Abdelfattah et al. 2021; Mellor et al. 2021; Lin et al. 2021). See `spec` for the
registry and contract, `gradients` and `activations` for the definitions, `candidate` for how
a search computes them for one candidate (``zc_<name>`` metrics, the pre-filter's scorer)."""

from __future__ import annotations

from nasforge.proxies import activations as _activations  # noqa: F401  (registers)
from nasforge.proxies import gradients as _gradients  # noqa: F401  (registers)
from nasforge.proxies.spec import (
    METRIC_PREFIX,
    PROXIES,
    ProxyBatch,
    ProxySpec,
    inapplicable,
    metric_name,
    proxy_batch,
    score,
)

__all__ = ["PROXIES", "ProxySpec", "ProxyBatch", "METRIC_PREFIX", "metric_name", "score",
           "proxy_batch", "inapplicable"]
