"""`nasforge import nni SEARCH_SPACE.json -o CONFIG.toml`: another tool's search space as a
nasforge config.

The command converts (`nasforge.importers.nni`), writes a complete config (`[search]`,
`[space.params]`, `[space.conditions]`, `[evaluator]`) and prints, line by line, what each
parameter became and what could not be mapped and why. Bad input (the file, its JSON, an
entry; a taken `-o` without `--force`) exits 2 naming the problem (a JSON path such as
``$.optimizer._value``) and writes nothing; so does a file where nothing maps.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nasforge.errors import ConfigError, NasforgeError
from nasforge.userfiles import check_regular_file, is_folder, look_up

if TYPE_CHECKING:
    from nasforge.importers.nni import Conversion
    from nasforge.importers.writer import ConfigHeader
    from nasforge.objectives import Objective

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_OBJECTIVE = "accuracy:max"
DEFAULT_STRATEGY = "tpe"  # NNI's default tuner is TPE

import_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                         help="Convert another tool's search space into a nasforge config.")


@import_app.command("nni")
def nni(
    search_space: Annotated[Path, typer.Argument(
        metavar="SEARCH_SPACE.json", help="NNI search space file (JSON).")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", metavar="CONFIG.toml", help="Config file to write (TOML).")],
    objective: Annotated[list[str] | None, typer.Option(
        "--objective", metavar="METRIC:DIR",
        help='A metric your evaluator returns and its direction, e.g. "loss:min"; repeat for '
        "several (default: accuracy:max).")] = None,
    evaluator: Annotated[str | None, typer.Option(
        "--evaluator", metavar="MODULE:FUNCTION",
        help='Your function as "module:function" (default: a placeholder to edit in '
        "[evaluator]).")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Search name (default: from the file name).")] = None,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Trials to run.")] = 20,
    strategy: Annotated[str, typer.Option(
        "--strategy", help="nasforge strategy (default tpe, as NNI's default tuner).")]
    = DEFAULT_STRATEGY,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing -o file.")]
    = False,
) -> None:
    """Convert an NNI HPO search space (choice, randint, uniform, quniform, loguniform,
    qloguniform, nested choices) into a config with [space.params] and [space.conditions];
    prints what each parameter became and what could not be mapped, and why."""
    try:
        report = run_nni_import(search_space, out, objectives=objective or [DEFAULT_OBJECTIVE],
                                evaluator=evaluator, name=name, budget=budget,
                                strategy=strategy, force=force)
    except NasforgeError as err:
        from rich.console import Console  # only here: the other commands start without Rich
        from rich.text import Text

        # plain text: "[space.params]" in it must not be read as Rich markup
        Console(stderr=True).print(Text.assemble(("error: ", "bold red"), str(err)),
                                   highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    typer.echo(report)


def run_nni_import(source: Path, out: Path, *, objectives: list[str], evaluator: str | None,
                   name: str | None, budget: int, strategy: str, force: bool) -> str:
    """Convert `source`, write `out`; return the report. NasforgeError (nothing written) for
    bad input."""
    from nasforge.config import check_name
    from nasforge.importers.nni import convert, read_search_space
    from nasforge.importers.writer import ConfigHeader, render_config
    from nasforge.objectives import parse_objectives

    parsed_objectives = parse_objectives(objectives)
    search_name = check_name(name) if name is not None else _name_from(source)
    if evaluator is not None and ":" not in evaluator:
        raise ConfigError(f'--evaluator {evaluator!r}: give your function as "module:function"'
                          ", e.g. my_trial:evaluate.")
    _check_out(out, force)
    text = _read(source)
    try:
        conversion = convert(read_search_space(text))
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    not_mapped = [f"{line.path}: {line.source}: {line.outcome}" for line in conversion.skipped]
    if not conversion.params:
        raise ConfigError(f"{source}: nothing maps to a nasforge parameter, so nothing was "
                          "written:\n  " + "\n  ".join(not_mapped))
    header = ConfigHeader(search_name, str(source), "NNI",
                          tuple(str(o) for o in parsed_objectives), budget, strategy, evaluator)
    comments = {line.name: f"NNI {line.source}" for line in conversion.mapped}
    config = render_config(header, conversion.params, conversion.conditions, comments,
                           not_mapped)
    _check_config(config, strategy, parsed_objectives)
    try:
        out.write_text(config, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"-o {out}: cannot be written ({err.strerror}); choose a path in a "
                          "folder you may write.") from None
    return _report(source, out, conversion, header)


def _report(source: Path, out: Path, conversion: Conversion, header: ConfigHeader) -> str:
    lines = [f"{source} -> {out}: {len(conversion.params)} parameter(s) mapped, "
             f"{len(conversion.skipped)} not mapped"]
    for line in conversion.mapped:
        when = conversion.conditions.get(line.name, {})
        only = "".join(f" (only when {p} = {', '.join(map(str, v))})" for p, v in when.items())
        lines.append(f"  mapped      {line.name}: {line.outcome}{only}  <- {line.path} "
                     f"{line.source}")
    lines += [f"  note        {line.name}: {line.outcome}" for line in conversion.notes]
    lines += [f"  not mapped  {line.path} ({line.source}): {line.outcome}"
              for line in conversion.skipped]
    metrics = ", ".join(f'"{o.partition(":")[0]}": ...' for o in header.objectives)
    lines.append(f"objectives: {', '.join(header.objectives)} (set them with --objective "
                 f"METRIC:max or METRIC:min, repeatable); strategy: {header.strategy}; budget: "
                 f"{header.budget}.")
    if header.evaluator is None:
        lines.append(f"next: in {out}, set [evaluator] callable to your trial function as "
                     f'"module:function" (its folder on PYTHONPATH), called as '
                     f"function(params, **options) and returning {{{metrics}}}; then run "
                     f"`nasforge search {out}`.")
    else:
        lines.append(f"next: nasforge search {out}")
    return "\n".join(lines)


def _name_from(source: Path) -> str:
    """A valid search name from the file's stem ("search_space.json" -> "search_space")."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", source.stem).lstrip("._-")[:128]
    return name or "nni-import"


def _check_out(out: Path, force: bool) -> None:
    found = look_up(out, "-o", ConfigError)
    if found is not None and is_folder(out, "-o", ConfigError):
        raise ConfigError(f"-o {out} is a folder; give the config file to write, e.g. "
                          f"{out / 'run.toml'}.")
    if found is not None and not force:
        raise ConfigError(f"-o {out} exists; pass --force to overwrite it, or choose another "
                          "path.")
    if not is_folder(out.parent if str(out.parent) else Path("."), "-o", ConfigError):
        raise ConfigError(f"-o {out}: the folder {out.parent} does not exist; create it first.")


def _read(source: Path) -> str:
    check_regular_file(source, "Search space file", ConfigError)
    try:
        return source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{source} does not exist; give the path of NNI's search space "
                          "file (search_space.json).") from None
    except IsADirectoryError:
        raise ConfigError(f"{source} is a folder; give the search space file in it.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source} cannot be read: {err}.") from None


def _check_config(text: str, strategy: str, objectives: tuple[Objective, ...]) -> None:
    """The written config's space builds and its strategy takes it (what `config.load` does
    besides importing the evaluator), so a config that will not load is never written."""
    from nasforge.searchspace.plain import plain_space
    from nasforge.strategies import make_strategy

    raw = tomllib.loads(text)
    space = plain_space(raw["space"])
    make_strategy(strategy, space, objectives, 0, {})


__all__ = ["import_app", "run_nni_import"]
