"""NetworkPlan + trial metadata -> the source of a standalone model.py (imports only torch).

Layout (the weight-compatible design): the generated `Model` has one attribute per top-level
plan op, in plan order, named from a fixed vocabulary (``fc1``, ``bn1``, ``act1``, ``cell2``,
...), and each attribute's module has exactly the state_dict layout of the module that
`build.py` puts at that index of the evaluated ``nn.Sequential``. So the two state_dicts
differ only in the first component of each key: ``"3.weight"`` there is
``SEQUENTIAL_NAMES[3] + ".weight"`` here, and the emitted `from_sequential` renames a
nasforge checkpoint into this layout (`weights.pt` is written already renamed). `forward`
lists the layers one per line, with the shape after each.

The output is deterministic (same plan and metadata: same bytes) and free text enters it only
inside the escaped module docstring (`names.docstring_text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nasforge.export import inputs, sources
from nasforge.export.exprs import Call, Expr, ExprBuilder, render
from nasforge.export.names import Names, docstring_text, json_text
from nasforge.searchspace.plan import NetworkPlan

if TYPE_CHECKING:
    from nasforge.evaluator.data.preprocessing import Preprocessing

#: Names model.py defines itself; an inlined portable module may not define them.
RESERVED = frozenset({
    "Model", "build", "from_sequential", "preprocessing_state", "INPUT_SHAPE",
    "NETWORK_INPUT_SHAPE", "OUTPUT_SHAPE", "SEQUENTIAL_NAMES", "INPUT_SCALE", "INPUT_MEAN",
    "INPUT_STD", "STATS_SHAPE"})
_BASE_IMPORTS = ("import torch", "from torch import nn")


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What the docstring records about the exported trial (free text, escaped)."""

    search: str = ""
    trial: int | None = None
    arch: Mapping[str, object] = field(default_factory=dict)
    arch_id: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    objectives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GeneratedModel:
    source: str
    names: tuple[str, ...]  # attribute of each top-level op: SEQUENTIAL_NAMES


def layer_names(plan: NetworkPlan) -> tuple[str, ...]:
    """The attribute name of each top-level op of `plan`, in order."""
    names, exprs = Names(), ExprBuilder()
    return tuple(names.take(exprs.prefix(op)) for op in plan.ops)


def generate(plan: NetworkPlan, meta: ModelMeta,
             preprocessing: Preprocessing | None = None) -> GeneratedModel:
    """The model.py source of `plan`, its docstring recording `meta`. With `preprocessing`
    (the dataset's), `Model` takes raw samples and preprocesses them as the search did
    (`export.inputs`); without, it takes the network's input."""
    exprs = ExprBuilder()
    names = layer_names(plan)
    layers = [(name, exprs.op(op)) for name, op in zip(names, plan.ops, strict=True)]
    inlined = sources.inline(exprs.sources, exprs.sources, RESERVED)
    pre = preprocessing
    if pre is not None and tuple(pre.input_shape) != tuple(plan.input_shape):
        raise ValueError(f"the preprocessing makes samples of shape {pre.input_shape}, the "
                         f"plan takes {plan.input_shape}")
    shapes = (f"INPUT_SHAPE = {_shape(plan.input_shape)}\n" if pre is None else
              "#: forward's input: one raw sample (see the module docstring).\n"
              f"INPUT_SHAPE = {_shape(pre.raw_shape)}\n"
              "#: the network's input, after the preprocessing.\n"
              f"NETWORK_INPUT_SHAPE = {_shape(plan.input_shape)}\n")
    parts = [
        _docstring(plan, meta, pre),
        _imports(inlined) + "\n\n" + shapes +
        f"OUTPUT_SHAPE = {_shape(plan.output_shape)}\n"
        "#: SEQUENTIAL_NAMES[i] is the attribute of layer i of nasforge's nn.Sequential.\n"
        f"SEQUENTIAL_NAMES = {render(tuple_expr(names), 0, 19)}"
        + ("" if pre is None else "\n" + inputs.constants(pre)),
        *(() if pre is None else (inputs.state_function(pre),)),
        *inlined.text,
        _model_class(plan, layers, pre),
        _FUNCTIONS if pre is None else _FUNCTIONS.replace(_RENAMED, _RENAMED_WITH_STATE),
    ]
    source = "\n\n\n".join(part.strip("\n") for part in parts) + "\n"
    return GeneratedModel(source, names)


def tuple_expr(names: tuple[str, ...]) -> Expr:
    """A tuple of string literals (a `Call` without a function renders as a tuple)."""
    if len(names) == 1:
        return f'("{names[0]}",)'
    return Call("", tuple(f'"{n}"' for n in names))


def _imports(inlined: sources.Inlined) -> str:
    return ("from __future__ import annotations\n\n"
            + sources.header((*_BASE_IMPORTS, *inlined.imports)))


_shape = inputs.shape_text


def _docstring(plan: NetworkPlan, meta: ModelMeta, pre: Preprocessing | None) -> str:
    record = {"search": meta.search, "trial": meta.trial, "arch_id": meta.arch_id,
              "family": plan.family, "objectives": list(meta.objectives)}
    text = (
        "A network found by a nasforge search, as standalone PyTorch (needs only torch).\n\n"
        "Usage::\n\n"
        "    import torch\n"
        "    from model import INPUT_SHAPE, build\n\n"
        "    model = build(\"weights.pt\")  # eval mode; build() alone: freshly initialised\n"
        "    outputs = model(torch.randn(8, *INPUT_SHAPE))\n\n"
        + ("" if pre is None else inputs.docstring_section(pre) + "\n\n") +
        "Layout: attribute SEQUENTIAL_NAMES[i] is layer i of the nn.Sequential that nasforge\n"
        "trained, with the same state_dict keys below it; from_sequential(state_dict) renames\n"
        "a nasforge checkpoint (\"3.weight\") to this module's keys (\"fc2.weight\").\n\n"
        f"Trial:\n{json_text(record)}\n\n"
        f"Architecture:\n{json_text(dict(meta.arch))}\n\n"
        f"Metrics:\n{json_text(dict(meta.metrics))}"
    )
    return f'"""{docstring_text(text)}\n"""'


def _model_class(plan: NetworkPlan, layers: list[tuple[str, Expr]],
                 pre: Preprocessing | None) -> str:
    first = plan.input_shape if pre is None else pre.raw_shape
    signature = f"(N, {', '.join(map(str, first))}) -> " \
                f"(N, {', '.join(map(str, plan.output_shape))})"
    if pre is not None:
        signature += " on raw samples"
    init = [f"        self.{name} = {render(expr, 8, 16 + len(name))}"
            for name, expr in layers]
    steps = [f"        x = self.{name}(x)  # (N, {', '.join(map(str, shape))})"
             for (name, _), shape in zip(layers, plan.shapes, strict=True)]
    family = plan.family if plan.family.isidentifier() else "searched"
    return "\n".join([
        "class Model(nn.Module):",
        f'    """The {family} network: {signature}."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *(() if pre is None else inputs.init_lines()),
        *init,
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *(() if pre is None else inputs.forward_lines(pre)),
        *steps,
        "        return x",
    ])


_RENAMED = '''Model's."""
    renamed = {}'''
_RENAMED_WITH_STATE = '''Model's,
    with the preprocessing buffers added."""
    renamed = preprocessing_state()'''
_FUNCTIONS = '''
def from_sequential(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of nasforge's nn.Sequential ("3.weight": layer 3) to Model's."""
    renamed = {}
    for key, value in state_dict.items():
        index, _, rest = key.partition(".")
        renamed[f"{SEQUENTIAL_NAMES[int(index)]}.{rest}"] = value
    return renamed


def build(weights: str | None = None) -> Model:
    """The model in eval mode; `weights`: a state_dict file of Model (weights.pt)."""
    model = Model()
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()
'''
