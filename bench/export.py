"""Benchmark: export of representative trials: code generation time, output agreement of the
generated model.py with the evaluated model, ONNX agreement under onnxruntime.

    python bench/export.py [--repeats 50]

Architectures: a float MLP, a 4-bit CNN with Snake activations and batch norm, and a 2-stage
cell network with every cell op, each built by nasforge and trained 3 SGD steps on random data
(so observers and batch-norm statistics are not at their initial values). For each:
`generate` (plan -> model.py source) median milliseconds over --repeats, the source's line
count, the max |model.py - evaluated| output difference on a seeded batch (fp32, eval mode),
and the max |onnxruntime - PyTorch| difference and seconds of `write_onnx`. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "export"))

from export_helpers import cell, cnn, mlp, trained  # noqa: E402  (tests/export)
from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.export import ModelMeta, generate  # noqa: E402
from nasforge.export.onnx_check import write_onnx  # noqa: E402
from nasforge.export.weights import load_module, to_named  # noqa: E402
from nasforge.searchspace.plan import DataSpec  # noqa: E402

IMAGE = DataSpec((1, 8, 8), 10)
FLAT = DataSpec((64,), 10)
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "sep_conv_3x3", "dil_conv_3x3",
       "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    cases = {
        "mlp_float": (mlp(**{"mlp.width": 128}), FLAT),
        "cnn_4bit_snake": (cnn(activation="snake", weight_bits=4, act_bits=4), IMAGE),
        "cell_all_ops": (cell(dict(zip(EDGES, OPS[1:], strict=True))), IMAGE),
    }
    report = {}
    for name, (arch, spec) in cases.items():
        plan, model = trained(arch, spec)
        meta = ModelMeta(search="bench", trial=0, arch=dict(arch))
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            generated = generate(plan, meta)
            times.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.py"
            path.write_text(generated.source)
            module = load_module(path, f"bench_{name}")
            copy = module.Model().eval()
            copy.load_state_dict(to_named(model.state_dict(), generated.names))
            x = torch.randn(16, *spec.input_shape, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                diff = float((copy(x) - model(x)).abs().max())
            start = time.perf_counter()
            check = write_onnx(copy, spec.input_shape, Path(tmp) / "model.onnx")
            onnx_seconds = time.perf_counter() - start
        report[name] = {"generate_ms": round(statistics.median(times) * 1e3, 3),
                        "lines": generated.source.count("\n"),
                        "max_abs_diff_model_py": diff,
                        "max_abs_diff_onnx": check.max_abs_diff,
                        "onnx_seconds": round(onnx_seconds, 3)}
    print(json.dumps({"benchmark": "export", "cases": report, **torch_machine()}, indent=2))


if __name__ == "__main__":
    main()
