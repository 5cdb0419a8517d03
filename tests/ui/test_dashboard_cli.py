"""`nasforge dashboard` refuses bad input with exit code 2 before starting a server."""

from __future__ import annotations

from typer.testing import CliRunner

from nasforge.ui.cli import app
from nasforge.ui.dashboard_launch import APP, streamlit_command


def test_a_missing_store_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["dashboard", "--storage",
                                      f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2 and "no store" in result.output.lower()
    assert not (tmp_path / "none.db").exists()


def test_a_bad_url_or_port_exits_2():
    result = CliRunner().invoke(app, ["dashboard", "--storage", "mysql://x/y"])
    assert result.exit_code == 2 and "SQLite or PostgreSQL" in result.output
    result = CliRunner().invoke(app, ["dashboard", "--port", "70000"])
    assert result.exit_code == 2 and "--port 70000" in result.output


def test_the_command_binds_localhost_by_default(tmp_path):
    from nasforge.store import open_store

    url = f"sqlite:///{tmp_path / 'ok.db'}"
    open_store(url).close()
    command = streamlit_command(url, port=8600, host="127.0.0.1")
    assert command[command.index("run") + 1] == str(APP)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[-2:] == ["--storage", url]
