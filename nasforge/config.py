"""Load a TOML search configuration into a frozen, validated SearchConfig.

One loader for the CLI and the API, torch-free. Sections: ``[search]``, ``[data]``,
``[training]`` and ``[space]`` (see examples/quickstart.toml). Every mistake raises ConfigError
naming the file, the field, the value and what is allowed. What can only be checked against
the data (layer names and layouts, objectives against the task's metrics) is checked by
`nasforge.evaluator_setup.build_evaluator`; both happen before anything is written anywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nasforge.curves.rule import DEFAULT_MIN_EPOCHS, DEFAULT_THRESHOLD, check_mode, check_settings
from nasforge.errors import ConfigError, NasforgeError, did_you_mean
from nasforge.frozen import freeze, thaw
from nasforge.objectives import Objective, parse_objectives
from nasforge.searchspace.assemble import HYPERPARAM_DEFAULTS, SHARED_KEYS, assemble_space
from nasforge.searchspace.plain import PLAIN_KEYS, plain_space
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies import make_strategy
from nasforge.user_evaluator import EvaluatorConfig, evaluator_config
from nasforge.userfiles import check_regular_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# the names of nasforge.evaluator.precision.PRECISIONS (config.py stays torch-free)
PRECISIONS = ("auto", "fp32", "tf32", "bf16")
# nasforge.checkpoint_policy.MODES: keep the trained weights of the Pareto trials, of all, or none
CHECKPOINT_MODES = ("pareto", "all", "none")
NAME_PATTERN_HELP = "letters, digits, '-', '_' and '.', starting with a letter or digit"

SECTIONS: dict[str, tuple[str, ...]] = {
    "search": ("name", "budget", "objectives", "strategy", "strategy_options", "seed", "batch"),
    "data": ("dataset", "val_fraction", "test_fraction", "target", "task", "num_classes",
             "input_shape", "root", "image_size", "augment", "train_limit"),
    "training": ("device", "latency_batch", "throughput_batch", "measure_latency", "precision",
                 "compile", "checkpoints", "checkpoint_dir", "threads", "proxies", "early_stop",
                 "early_stop_threshold", "early_stop_min_epochs", *HYPERPARAM_DEFAULTS),
    "space": (),  # validated by assemble_space (or plain_space: [space.params])
    "evaluator": (),  # validated by user_evaluator.evaluator_config
}
DATA_OPTION_KEYS = ("target", "task", "num_classes", "input_shape", "root", "image_size")
MAX_BUDGET = 10_000_000
MAX_THREADS = 1024


@dataclass(frozen=True, slots=True)
class DataConfig:
    dataset: str
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    options: Mapping[str, object] = field(default_factory=dict)
    #: training-batch augmentations (nasforge.evaluator.augment), checked with the data
    augment: tuple[str, ...] = ()
    #: a seeded, stratified sample of this many training samples (None: all of them)
    train_limit: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", freeze(self.options))


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    device: str = "auto"
    latency_batch: int = 1
    measure_latency: bool = True
    throughput_batch: int = 256
    precision: str = "auto"  # nasforge.evaluator.precision.PRECISIONS
    compile: bool = False
    checkpoints: str = "pareto"  # CHECKPOINT_MODES
    checkpoint_dir: str | None = None  # absolute; None: beside a SQLite file store
    threads: int | str = "auto"  # torch threads a candidate trains with (evaluator.threads)
    #: zero-cost proxies reported as zc_<name> metrics of each trial (nasforge.proxies);
    #: names are checked against the registry with the data (evaluator_setup.load_checked)
    proxies: tuple[str, ...] = ()
    early_stop: str = "none"  # nasforge.curves.rule.EARLY_STOP_MODES
    early_stop_threshold: float = DEFAULT_THRESHOLD
    early_stop_min_epochs: int = DEFAULT_MIN_EPOCHS


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Everything a search needs, validated. `raw` is the (path-resolved) TOML as a dict,
    stored with the search so that `nasforge resume NAME` can rebuild this config."""

    name: str
    budget: int
    objectives: tuple[Objective, ...]
    strategy: str
    strategy_options: Mapping[str, object]
    seed: int
    batch: int
    data: DataConfig
    training: TrainingConfig
    space: SearchSpace
    raw: Mapping[str, object]
    evaluator: EvaluatorConfig | None = None  # [evaluator]: your own function, not a network

    def with_overrides(self, *, name: str | None = None, budget: int | None = None,
                       seed: int | None = None) -> SearchConfig:
        """A copy with CLI overrides applied (and recorded in `raw`)."""
        raw = thaw(self.raw)
        search = raw.get("search")
        if not isinstance(search, dict):
            search = raw["search"] = {}
        for key, value in (("name", name), ("budget", budget), ("seed", seed)):
            if value is not None:
                search[key] = value
        return from_dict(raw, source="command line")



def load(path: str | Path) -> SearchConfig:
    """Read and validate a TOML config file."""
    path = Path(path)
    check_regular_file(path, "Config file", ConfigError)
    try:
        # utf-8-sig: editors on Windows save a byte-order mark that TOML does not allow
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"Config file {str(path)!r} does not exist; check the path "
                          "(examples/quickstart.toml is a good start).") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Config file {str(path)!r} cannot be read: {err}.") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err}). Fix the syntax at that line; "
                          "strings need quotes, tables look like [search].") from None
    return from_dict(raw, source=str(path), base_dir=path.resolve().parent)


def from_dict(raw: Mapping[str, object], *, source: str = "config",
              base_dir: Path | None = None) -> SearchConfig:
    """Validate a config given as nested dicts (the parsed TOML, or one stored with a search)."""
    raw = thaw(raw)
    try:
        return _build(raw, base_dir or Path.cwd())
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    except NasforgeError as err:  # SpaceError, UnknownNameError from registries
        raise ConfigError(f"{source}: {err}") from None


def _build(raw: dict[str, object], base_dir: Path) -> SearchConfig:
    _check_keys(raw, tuple(SECTIONS), "the top level (sections)")
    sections = {}
    for name in SECTIONS:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table (a section), got {value!r}.")
        sections[name] = value
    for name in ("search", "data", "training"):
        _check_keys(sections[name], SECTIONS[name], f"[{name}]")

    search = sections["search"]
    if "name" not in search:
        raise ConfigError('[search] name is missing; add e.g. name = "my-search".')
    name = _search_name(search["name"])
    budget = _int(search, "search", "budget", 20, 1, MAX_BUDGET)
    batch = _int(search, "search", "batch", 1, 1, 4096)
    seed = _int(search, "search", "seed", 0, 0, 2**63 - 1)
    objectives = parse_objectives(_list_of_str(search, "search", "objectives", ["accuracy:max"]))
    strategy = search.get("strategy", "random")
    if not isinstance(strategy, str):
        raise ConfigError(f"[search] strategy must be a name, got {strategy!r}.")
    strategy_options = search.get("strategy_options", {})
    if not isinstance(strategy_options, dict):
        raise ConfigError("[search] strategy_options must be a table of option = value.")

    evaluator = evaluator_config(sections["evaluator"]) if "evaluator" in raw else None
    if evaluator is not None:
        data = _no_data(raw)
    else:
        data = _data_config(sections["data"], base_dir)
        raw["data"] = {**sections["data"], "dataset": data.dataset,
                       **({"root": data.options["root"]} if "root" in data.options else {})}

    training_section = sections["training"]
    device = training_section.get("device", "auto")
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ConfigError(f'[training] device = {device!r}; use "auto", "cpu", "cuda" or "cuda:N".')
    measure_latency = training_section.get("measure_latency", True)
    if not isinstance(measure_latency, bool):
        raise ConfigError("[training] measure_latency must be true or false.")
    precision = training_section.get("precision", "auto")
    if precision not in PRECISIONS:
        allowed = ", ".join(f'"{p}"' for p in PRECISIONS)
        raise ConfigError(f"[training] precision = {precision!r}; use one of {allowed} "
                          '("auto": bf16 on CUDA, fp32 on CPU).')
    compile_model = training_section.get("compile", False)
    if not isinstance(compile_model, bool):
        raise ConfigError("[training] compile must be true or false.")
    checkpoints, checkpoint_dir = _checkpoint_settings(training_section, base_dir)
    if checkpoint_dir is not None:
        raw["training"] = {**training_section, "checkpoint_dir": checkpoint_dir}
    training = TrainingConfig(
        device, _int(training_section, "training", "latency_batch", 1, 1, 65536),
        measure_latency,
        _int(training_section, "training", "throughput_batch", 256, 1, 65536),
        precision, compile_model, checkpoints, checkpoint_dir, _threads(training_section),
        _proxies(training_section), *_early_stop(training_section))
    space = _space(sections["space"], training_section)
    if evaluator is None and any(key in sections["space"] for key in PLAIN_KEYS):
        raise ConfigError('[space.params] needs your own evaluator: add [evaluator] callable = '
                          '"package.module:function" (see README, "Plain parameter spaces").')
    if evaluator is not None and "prefilter" in strategy_options:
        raise ConfigError("[search] strategy_options prefilter scores networks built from "
                          "[space] on [data] before training them; your own [evaluator] has "
                          "neither: remove prefilter or [evaluator].")
    # build the strategy once: an unknown name or a bad option fails here, before any write
    make_strategy(strategy, space, objectives, seed, strategy_options)
    return SearchConfig(name, budget, objectives, strategy,
                        freeze(strategy_options), seed, batch, data, training,
                        space, freeze(raw), evaluator)


def _no_data(raw: Mapping[str, object]) -> DataConfig:
    """With [evaluator], your function loads its own data and trains as it likes: a [data] or
    [training] section would be silently unused."""
    if "training" in raw:
        raise ConfigError("[training] is read by nasforge's network evaluator, not by your "
                          "[evaluator]; remove [training] and pass your function's settings "
                          "as [evaluator.options] (e.g. epochs = 3).")
    if "data" in raw:
        raise ConfigError("[data] is read by nasforge's network evaluator, not by your "
                          "[evaluator]; remove [data] and pass what your function loads as "
                          "[evaluator.options] (e.g. path = \"data.csv\").")
    return DataConfig("")


def _space(section: dict[str, object], training: Mapping[str, object]) -> SearchSpace:
    if any(key in section for key in PLAIN_KEYS):
        return plain_space(section)
    family_specs = {k: v for k, v in section.items()
                    if isinstance(v, dict) and k not in SHARED_KEYS}
    shared = {k: v for k, v in section.items() if k != "families" and k not in family_specs}
    for key in HYPERPARAM_DEFAULTS:
        if key in training:
            if key in shared:
                raise ConfigError(
                    f"{key!r} is fixed in [training] and searched in [space]; remove one of them "
                    "(fixed values go in [training], searched ranges or lists in [space])."
                )
            shared[key] = training[key]
    families = section.get("families", ["mlp"])
    if isinstance(families, str):
        families = [families]
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        raise ConfigError('[space] families must be a list of names, e.g. families = ["mlp"].')
    return assemble_space(families, shared, family_specs)


def _checkpoint_settings(section: Mapping[str, object], base_dir: Path
                         ) -> tuple[str, str | None]:
    """``checkpoints`` (a mode) and ``checkpoint_dir`` (resolved against the config's folder)."""
    mode = section.get("checkpoints", "pareto")
    if mode not in CHECKPOINT_MODES:
        raise ConfigError(f'[training] checkpoints = {mode!r}; use "pareto" (keep the trained '
                          'weights of the Pareto trials, the default), "all" or "none".')
    folder = section.get("checkpoint_dir")
    if folder is None:
        return str(mode), None
    if not isinstance(folder, str) or not folder.strip():
        raise ConfigError(f"[training] checkpoint_dir = {folder!r}; use a folder path, e.g. "
                          '"checkpoints" (relative to the config file), or leave it out to '
                          "keep them beside a SQLite store.")
    path = Path(folder).expanduser()
    return str(mode), str(path if path.is_absolute() else base_dir / path)


def _data_config(section: dict[str, object], base_dir: Path) -> DataConfig:
    dataset = section.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise ConfigError('[data] dataset is missing; use a builtin ("digits", "mnist1d", '
                          '"fashion-mnist") or "csv:PATH" / "npz:PATH" / "images:DIR".')
    prefix, sep, path = dataset.partition(":")
    if sep and prefix in ("csv", "npz", "images"):
        resolved = Path(path).expanduser()
        dataset = f"{prefix}:{resolved if resolved.is_absolute() else (base_dir / resolved)}"
    options = {k: section[k] for k in DATA_OPTION_KEYS if k in section}
    if "root" in options:
        root = Path(str(options["root"])).expanduser()
        options["root"] = str(root if root.is_absolute() else base_dir / root)
    fractions = {}
    for key in ("val_fraction", "test_fraction"):
        value = section.get(key, 0.2)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ConfigError(f"[data] {key} = {value!r}; use a fraction strictly between 0 and 1.")
        fractions[key] = float(value)
    if sum(fractions.values()) >= 1:
        raise ConfigError("[data] val_fraction + test_fraction must be below 1 (data must remain "
                          "for training).")
    augment = section.get("augment", [])
    augment = [augment] if isinstance(augment, str) else augment
    if not isinstance(augment, list) or not all(isinstance(a, str) for a in augment):
        raise ConfigError(f"[data] augment = {augment!r}; use a list of augmentation names, "
                          'e.g. ["crop", "flip", "cutout"].')
    if len(set(augment)) != len(augment):
        raise ConfigError(f"[data] augment = {augment!r} names an augmentation twice; list "
                          'each once, e.g. ["crop", "flip"].')
    limit = section.get("train_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"[data] train_limit = {limit!r}; use a whole number of training "
                          "samples (e.g. 10000), or remove it to train on all of them.")
    return DataConfig(dataset, options=options, augment=tuple(augment), train_limit=limit,
                      **fractions)


def _check_keys(section: Mapping[str, object], allowed: tuple[str, ...], where: str) -> None:
    for key in section:
        if key not in allowed:
            raise ConfigError(f"Unknown field {key!r} in {where}.{did_you_mean(key, allowed, 2)} "
                              f"Allowed: {', '.join(allowed)}.")


def _early_stop(training: Mapping[str, object]) -> tuple[str, float, int]:
    """``early_stop``, ``early_stop_threshold`` and ``early_stop_min_epochs``
    (`nasforge.curves.rule`)."""
    mode = check_mode(training.get("early_stop", "none"))
    threshold = training.get("early_stop_threshold", DEFAULT_THRESHOLD)
    min_epochs = training.get("early_stop_min_epochs", DEFAULT_MIN_EPOCHS)
    return (mode, *check_settings(threshold, min_epochs))


def _threads(training: Mapping[str, object]) -> int | str:
    value = training.get("threads", "auto")
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                           and 1 <= value <= MAX_THREADS):
        return value
    raise ConfigError(f'[training] threads = {value!r}; use "auto" (one thread for small '
                      "candidates, the cores this worker may use for large ones) or a whole "
                      f"number from 1 to {MAX_THREADS}.")


def _proxies(training: Mapping[str, object]) -> tuple[str, ...]:
    """``[training] proxies``: a list of distinct proxy names (checked against the proxy
    registry, which needs torch, when the data is loaded)."""
    names = _list_of_str(training, "training", "proxies", [])
    if len(set(names)) != len(names):
        raise ConfigError(f"[training] proxies = {names!r} names a proxy twice; list each once.")
    return tuple(names)


def _int(section: Mapping[str, object], where: str, key: str, default: int, low: int,
         high: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"[{where}] {key} = {value!r}; use a whole number from {low} to {high}.")
    return value


def _list_of_str(section: Mapping[str, object], where: str, key: str,
                 default: list[str]) -> list[str]:
    value = section.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'[{where}] {key} must be a list of strings, e.g. ["accuracy:max"].')
    return value


def _search_name(value: object) -> str:
    import re

    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", value):
        raise ConfigError(f"[search] name = {value!r} is not a valid name; use {NAME_PATTERN_HELP}"
                          " (at most 128 characters).")
    return value


def check_name(value: str) -> str:
    """Validate a search name given on the command line."""
    try:
        return _search_name(value)
    except ConfigError as err:
        raise ConfigError(str(err).replace("[search] name", "--name")) from None


__all__ = ["SearchConfig", "DataConfig", "TrainingConfig", "load", "from_dict", "check_name"]
