"""What a torch benchmark records about where it ran: torch version, threads, machine."""

from __future__ import annotations

import os
import platform

import torch


def torch_machine() -> dict[str, object]:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
    }
