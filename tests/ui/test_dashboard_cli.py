"""`nasforge dashboard` refuses bad input with exit code 2 before starting a server, starts
it without the store's password in its command line (other users can read that), and the
dashboard shows store URLs with the password masked."""

from __future__ import annotations

import os

import pytest
from dashboard_helpers import app_test, postgres_url_with_password
from typer.testing import CliRunner

from nasforge.ui import dashboard_launch
from nasforge.ui.cli import app
from nasforge.ui.dashboard_launch import APP, STORAGE_ENV, streamlit_launch

SECRET_URL = "postgresql+psycopg://nas:pa55-S3cret@db.example:5432/nasforge"


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


def test_the_command_binds_localhost_and_hides_the_deploy_button(tmp_path):
    from nasforge.store import open_store

    url = f"sqlite:///{tmp_path / 'ok.db'}"
    open_store(url).close()
    launch = streamlit_launch(url, port=8600, host="127.0.0.1", environ={"HOME": "/h"},
                              cache_dir=tmp_path)
    argv = list(launch.argv)
    assert argv[argv.index("run") + 1] == str(APP)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--client.toolbarMode") + 1] == "viewer"  # no "Deploy"
    assert argv[-2:] == ["--cache-dir", str(tmp_path)] and url not in argv
    assert launch.env == {"HOME": "/h", STORAGE_ENV: url}


def test_the_launch_never_shows_the_url_in_its_repr(tmp_path, monkeypatch):
    """A logged or printed Launch (an error report, a debugger) must not leak a password."""
    monkeypatch.setattr(dashboard_launch, "check_store", lambda url: None)
    launch = streamlit_launch(SECRET_URL, port=8600, host="127.0.0.1", environ={"HOME": "/h"})
    assert launch.env[STORAGE_ENV] == SECRET_URL
    assert "pa55-S3cret" not in repr(launch) and "pa55-S3cret" not in str(launch)


@pytest.mark.parametrize("source", ["--storage", STORAGE_ENV])
def test_the_server_gets_the_url_in_its_environment_never_in_argv(monkeypatch, source):
    """/proc/PID/cmdline is readable by every local user, /proc/PID/environ by its owner."""
    started = {}
    checked = []
    monkeypatch.setattr(dashboard_launch, "check_store", checked.append)
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.update(
        path=path, argv=list(argv), env=dict(env)))
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    args, env = ["dashboard"], {}
    if source == "--storage":
        args += ["--storage", SECRET_URL]
    else:
        env[STORAGE_ENV] = SECRET_URL
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert checked == [SECRET_URL]
    assert started["path"] == started["argv"][0]
    assert not any("pa55-S3cret" in part for part in started["argv"]), started["argv"]
    assert started["env"][STORAGE_ENV] == SECRET_URL
    assert "pa55-S3cret" not in result.output


def test_the_sidebar_shows_the_url_with_the_password_masked():
    with postgres_url_with_password() as (url, password):
        from nasforge.store import open_store

        open_store(url).close()  # an empty store: the page says so, with the URL
        at = app_test(url)
        at.run()
        shown = [c.value for c in at.sidebar.caption] + [i.value for i in at.info]
        assert any("***@" in text for text in shown), shown
        assert not any(password in text for text in shown), shown


def test_an_unreachable_store_is_named_without_its_password(monkeypatch):
    from nasforge.ui.dashboard import data

    monkeypatch.setattr(data, "PAGE_RETRY_SECONDS", 0.0)  # one try: the error at once
    at = app_test(None)
    at.session_state["storage"] = "postgresql+psycopg://nas:pa55-S3cret@127.0.0.1:1/none"
    with pytest.raises(AssertionError, match="error box"):  # the expected error box
        at.run()
    (error,) = at.error
    assert "127.0.0.1:1" in error.value and "pa55-S3cret" not in error.value
