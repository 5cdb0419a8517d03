"""Every command's --help as a user sees it: bracketed text kept verbatim, no value shown
for flags."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from nasforge.ui.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def render(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())  # wrapped lines joined


def test_every_command_has_help() -> None:
    assert {"search", "resume", "worker", "list", "show", "export", "dashboard", "benchmark",
            "layers"} <= set(COMMANDS)


def test_bracketed_text_in_help_is_printed_verbatim() -> None:
    for command in ("search", "resume", "worker"):
        assert 'pip install "nasforge[ray]"' in render(command), command
    assert "(the names [space] accepts)" in render("layers")
    assert "pip install 'nasforge[export]'" in render("export")


def test_flags_show_no_value_in_any_help() -> None:
    for args in ([], *([c] for c in COMMANDS)):
        text = render(*args)
        assert "<bool>" not in text and "BOOLEAN" not in text, (args, text)
        assert "--help" in text


def test_every_help_text_is_printed_whole() -> None:
    """Each command's and option's help string appears in its --help, character for
    character (whitespace aside: lines wrap): no bracketed word lost to markup."""
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        shown = "".join(render(name).split())
        texts = [command.help or ""] + [p.help for p in command.params if getattr(p, "help", None)]
        for text in texts:
            assert "".join(text.split()) in shown, (name, text)
