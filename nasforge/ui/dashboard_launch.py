"""`nasforge dashboard`: check the store and the options, then build the `streamlit run`
command line and its environment (the CLI execs it).

The store URL may hold a password, so it goes into the server's environment
(``/proc/PID/environ`` is readable only by its owner), never into its arguments
(``/proc/PID/cmdline`` is readable by every local user)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nasforge.errors import ConfigError, StoreError

APP = Path(__file__).resolve().parent / "dashboard" / "app.py"
#: The environment variable `--storage` defaults to (every command) and the dashboard
#: server reads its store URL from: defined here once, for the CLI and the server.
STORAGE_ENV = "NASFORGE_STORAGE"


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start the server: its argv and its full environment (which holds the store
    URL, maybe with a password: left out of the repr)."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)


def check_store(url: str) -> None:
    """The store must exist and be readable: StoreError (exit 2) otherwise."""
    from nasforge.store import open_store

    store = open_store(url, create=False, readonly=True)
    try:
        store.list_searches()
    finally:
        store.close()


def streamlit_launch(url: str, *, port: int, host: str, environ: Mapping[str, str],
                     cache_dir: Path | None = None) -> Launch:
    """The Streamlit server for the store at `url`, started with `environ` plus the URL;
    ConfigError / StoreError name a bad port, a missing Streamlit or a bad store before
    anything starts."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a TCP port; choose one in 1..65535 "
                          "(default 8501).")
    if not host.strip():
        raise ConfigError("--host is empty; use 127.0.0.1 (this machine only) or 0.0.0.0.")
    if importlib.util.find_spec("streamlit") is None or importlib.util.find_spec(
            "plotly") is None:
        raise ConfigError("The dashboard needs Streamlit and Plotly: pip install "
                          "'nasforge[dashboard]'.")
    if not isinstance(url, str) or not url.strip():
        raise StoreError("The store URL is empty; pass --storage sqlite:///nasforge.db.")
    check_store(url)
    argv = [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", host,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer", "--"]
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    return Launch(tuple(argv), {**environ, STORAGE_ENV: url})
