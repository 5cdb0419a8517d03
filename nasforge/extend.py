"""The public extension API: register activations, norms, families, datasets, strategies and
benchmark tables (re-exported from `nasforge`; docs/extending.md shows each with an example).

Every function works as a call, ``register_family("resmlp", ResMLP())``, or as a decorator,
``@register_family("resmlp")`` over the class (or function). Each entry records its origin
(the plugin that registered it, else the calling module); a name registered twice is a
`RegistryClash` naming both. Torch-free: layer classes may be given as ``"module:Class"``
references, imported when a layer is first built.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from nasforge.errors import ConfigError
from nasforge.registry import _caller_origin, _stages
from nasforge.searchspace.specs import (
    ACTIVATIONS,
    ELEMENTWISE,
    NORMS,
    NOT_ELASTIC,
    NOT_STACKABLE,
    PER_WIDTH,
    PORTABLE_IMPORTS,
    PORTABLE_PACKAGE,
    LayerSpec,
    Marker,
    per_channel,
    resolve,
)

T = TypeVar("T")

_FUSED = {"elementwise": ELEMENTWISE, "not_stackable": NOT_STACKABLE}
_ELASTIC = {"per_width": PER_WIDTH, "not_elastic": NOT_ELASTIC}
_BUILD_ARGS = ("channels", "dims")


def _origin() -> str:
    return _stages[-1].origin if _stages else _caller_origin()


def _decorate(register: Callable[[Any], Any], obj: Any) -> Any:
    if obj is None:
        def decorator(value: T) -> T:
            register(value)
            return value
        return decorator
    return register(obj)


class ClassBuild:
    """Build a layer class: ``cls(channels=C, dims=D)``, passing only the arguments named
    ``channels`` / ``dims`` that its constructor declares. `ref` is the class or its
    ``"module:Class"`` reference (imported on first use)."""

    def __init__(self, ref: object) -> None:
        self.ref = ref

    def cls(self) -> type:
        value = resolve(self.ref)
        if not inspect.isclass(value):
            raise ConfigError(f"Layer build {self.ref!r} is not a class.")
        return value

    def arguments(self, channels: int, dims: int) -> dict[str, int]:
        accepted = inspect.signature(self.cls()).parameters
        values = {"channels": int(channels), "dims": int(dims)}
        return {name: values[name] for name in _BUILD_ARGS if name in accepted}

    def __call__(self, channels: int, dims: int) -> Any:
        return self.cls()(**self.arguments(channels, dims))

    def export(self, channels: int, dims: int) -> str:
        """The same call as model.py source: ``SquaredReLU()``, ``ScaledRMS(channels=16)``."""
        args = ", ".join(f"{k}={v}" for k, v in self.arguments(channels, dims).items())
        return f"{self.cls().__name__}({args})"


def _module_of(ref: object) -> str:
    return ref.partition(":")[0] if isinstance(ref, str) else ref.__module__


def _is_class(ref: object) -> bool:
    if isinstance(ref, str):
        module, _, attr = ref.partition(":")
        return bool(attr) and attr.split(".")[-1][:1].isupper()  # a class by naming convention
    return inspect.isclass(ref)


def check_portable(module_name: str) -> None:
    """Refuse a layer module that imports anything but torch, math, typing, nasforge's
    portable layers and modules of its own package: its text is inlined into a model.py that
    must run without nasforge or the plugin. Reads the file; imports nothing."""
    found = importlib.util.find_spec(module_name)
    if found is None or found.origin is None or not found.origin.endswith(".py"):
        raise ConfigError(f"Layer source module {module_name!r} cannot be found as a .py file.")
    with open(found.origin, encoding="utf-8") as file:
        tree = ast.parse(file.read(), found.origin)
    top = module_name.partition(".")[0]
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        for name in names:
            if name in (*PORTABLE_IMPORTS, "__future__") or name.startswith(PORTABLE_PACKAGE) or (
                    top != "nasforge" and name.partition(".")[0] == top):
                continue
            raise ConfigError(
                f"Layer source module {module_name!r} imports {name!r}; a portable layer "
                "module may import only torch, math and typing (its text is copied into "
                "model.py). Move the layer class into a module of its own.")


def check_layer_spec(spec: LayerSpec) -> None:
    """Refuse a layer spec that cannot be built, costed, exported or fused: the plugin loader
    runs this over every spec a plugin registered, however it registered it."""
    missing = [part for part, ok in (("build", spec.build is not None),
                                     ("export", callable(spec.export)),
                                     ("fused", spec.fused is not None),
                                     ("elastic", spec.elastic is not None)) if not ok]
    if missing:
        raise ConfigError(f"{spec.role.capitalize()} {spec.name!r} lacks {', '.join(missing)} "
                          "(see docs/extending.md for what each part is).")
    for module in spec.source:
        check_portable(module)


def _marker(value: object, table: dict[str, Marker], what: str) -> object:
    if isinstance(value, Marker) or (isinstance(value, str) and ":" in value):
        return value
    if isinstance(value, str) and value.lower() in table:
        return table[value.lower()]
    raise ConfigError(f"{what}={value!r}: use one of {', '.join(map(repr, table))} or a "
                      "'module:attr' reference to an implementation.")


def _params(value: int | Callable[[int, int], int | None] | None
            ) -> Callable[[int, int], int | None] | None:
    if value is None or callable(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return per_channel(0, value)
    raise ConfigError(f"params={value!r}: give a count (int), a function (channels, dims) -> "
                      "int, or None (count the built module).")


def _layer_spec(role: Literal["activation", "norm"], name: str, build: object, *, fused: object,
                params: int | Callable[[int, int], int | None] | None,
                export: Callable[[int, int], str] | None, source: tuple[str, ...] | None,
                dims: tuple[int, ...], elastic: object, prefix: str, summary: str,
                norm_activation: bool = False) -> LayerSpec:
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"{role.capitalize()} name {name!r}: use a Python identifier.")
    if _is_class(build):
        maker = ClassBuild(build)
        export = export or maker.export
        source = (_module_of(build),) if source is None else source
        built: object = maker
    elif callable(build) or isinstance(build, str):
        if export is None:
            raise ConfigError(
                f"{role.capitalize()} {name!r} is built by a function; give export=lambda c, d: "
                "'...' (its constructor call in model.py) and source=(module, ...) (the "
                "portable modules defining the classes it calls), or register the class.")
        built = build
    else:
        raise ConfigError(f"{role.capitalize()} {name!r}: build must be a layer class, a factory "
                          f"(channels, dims) -> nn.Module or a 'module:attr' reference, not "
                          f"{type(build).__name__}.")
    source = tuple(source or ())
    for module in source:
        check_portable(module)
    if not summary and not isinstance(build, str):
        summary = (inspect.getdoc(build) or "").split("\n\n")[0]
    return LayerSpec(name, role, built, export, params=_params(params),
                     dims=frozenset(dims), source=source, prefix=prefix,
                     fused=_marker(fused, _FUSED, "fused"),
                     elastic=_marker(elastic, _ELASTIC, "elastic"),
                     norm_activation=norm_activation, summary=summary, origin=_origin())


def register_activation(name: str, build: object = None, *, fused: object,
                        params: int | Callable[[int, int], int | None] | None,
                        export: Callable[[int, int], str] | None = None,
                        source: tuple[str, ...] | None = None,
                        dims: tuple[int, ...] = (0, 1, 2), elastic: object = "per_width",
                        prefix: str = "act", summary: str = "") -> Any:
    """Register activation `name` (the `[space] activation` choice).

    `build`: the layer class (or ``"module:Class"``; a reference whose last part starts with
    an upper-case letter is taken for a class), called as ``cls(channels=C, dims=D)`` with
    only the arguments its constructor names; or a factory ``(channels, dims) -> nn.Module``
    (or ``"module:function"``; then give `export`). `fused`: "elementwise" (parameter-free and
    elementwise: stacked training runs each model's module on its slice) or "not_stackable".
    `params`: learnable parameters, an int or ``(channels, dims) -> int`` (None: count the
    built module). `export(channels, dims)`: its constructor call in model.py (default: the
    class called as it is built). `source`: the portable modules inlined into model.py
    (default: the class's module). `elastic`: "per_width" or "not_elastic" (supernet).
    """
    def add(value: object) -> LayerSpec:
        spec = _layer_spec("activation", name, value, fused=fused, params=params,
                           export=export, source=source, dims=dims, elastic=elastic,
                           prefix=prefix, summary=summary)
        return ACTIVATIONS.register(name, spec, origin=spec.origin)

    return _decorate(add, build)


def register_norm(name: str, build: object = None, *, fused: object,
                  params: int | Callable[[int, int], int | None] | None,
                  export: Callable[[int, int], str] | None = None,
                  source: tuple[str, ...] | None = None, dims: tuple[int, ...] = (0, 1, 2),
                  elastic: object = "per_width", prefix: str = "norm", summary: str = "",
                  norm_activation: bool = False) -> Any:
    """Register norm `name` (the `[space] norm` choice); the arguments are
    `register_activation`'s, plus `norm_activation` (the norm stands for the activation
    after it too, as EvoNorm does). A norm with learnable parameters or batch statistics
    is usually ``fused="not_stackable"``."""
    def add(value: object) -> LayerSpec:
        spec = _layer_spec("norm", name, value, fused=fused, params=params, export=export,
                           source=source, dims=dims, elastic=elastic, prefix=prefix,
                           summary=summary, norm_activation=norm_activation)
        return NORMS.register(name, spec, origin=spec.origin)

    return _decorate(add, build)


_FAMILY_PARTS = ("params", "canonicalizer", "check_data", "plan")


def register_family(name: str, family: object = None) -> Any:
    """Register network family `name` (``[space] families = [name]``, options in
    ``[space.<name>]``): an object (or a class, instantiated without arguments) with
    ``params(spec)``, ``canonicalizer(spec)``, ``check_data(data)``, ``plan(arch, data)``
    and ``layer_count_key`` (see `nasforge.searchspace.families.base.Family`)."""
    from nasforge.searchspace.families import FAMILIES

    def add(value: object) -> object:
        instance = value() if inspect.isclass(value) else value
        missing = [p for p in _FAMILY_PARTS if not callable(getattr(instance, p, None))]
        if not hasattr(instance, "layer_count_key"):
            missing.append("layer_count_key")
        if missing:
            raise ConfigError(f"Family {name!r} lacks {', '.join(missing)} (a family is space "
                              "parameters + a planner; see nasforge.searchspace.families.base).")
        claimed = getattr(instance, "name", name)
        if claimed != name:
            raise ConfigError(f"Family {name!r} calls itself {claimed!r}; register it "
                              "under its own name.")
        if not hasattr(instance, "name"):
            setattr(instance, "name", name)  # noqa: B010 (instance is an untyped object)
        FAMILIES.register(name, cast(Any, instance), origin=_origin())
        return value

    return _decorate(add, family)


def register_dataset(name: str, load: Callable[..., Any] | None = None, *,
                     options: frozenset[str] | tuple[str, ...] = (), description: str = ""
                     ) -> Any:
    """Register dataset `name` (``[data] dataset = name``): `load(ctx: LoadContext) ->
    RawData` returns every sample with raw labels (nasforge encodes, splits and scales them);
    `options` the ``[data]`` keys it accepts (``ctx.options``)."""
    from nasforge.evaluator.data import DATASETS
    from nasforge.evaluator.data.base import DatasetLoader

    def add(value: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(value):
            raise ConfigError(f"Dataset {name!r}: give a function (LoadContext) -> RawData.")
        text = description or (inspect.getdoc(value) or "").split("\n\n")[0]
        DATASETS.register(name, DatasetLoader(value, frozenset(options), description=text),
                          origin=_origin())
        return value

    return _decorate(add, load)


def register_strategy(name: str, factory: Callable[..., Any] | None = None) -> Any:
    """Register strategy `name` (``[strategy] name = ...``): ``factory(space, objectives,
    seed, **options) -> Strategy`` (a class with that constructor works)."""
    from nasforge.strategies import STRATEGIES

    def add(value: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(value):
            raise ConfigError(f"Strategy {name!r}: give a factory (space, objectives, seed, "
                              "**options) -> Strategy.")
        return STRATEGIES.register(name, value, origin=_origin())

    return _decorate(add, factory)


def register_table(name: str, table: object = None) -> Any:
    """Register benchmark table `name` (``nasforge benchmark name``): a `TabularBenchmark`
    (`TabularBenchmark.from_arrays`) or a zero-argument function returning one, called when
    the table is used."""
    from nasforge.benchmark.registered import TABLES
    from nasforge.benchmark.registered import register_table as register

    def add(value: object) -> object:
        TABLES.check_free(name, _origin())
        register(name, value)
        return value

    return _decorate(add, table)


__all__ = ["ClassBuild", "check_layer_spec", "check_portable", "per_channel", "register_activation",
           "register_dataset", "register_family", "register_norm", "register_strategy",
           "register_table"]
