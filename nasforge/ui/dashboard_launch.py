"""`nasforge dashboard`: check the store and the options, then build the `streamlit run`
command line (the CLI execs it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from nasforge.errors import ConfigError, StoreError

APP = Path(__file__).resolve().parent / "dashboard" / "app.py"


def check_store(url: str) -> None:
    """The store must exist and be readable: StoreError (exit 2) otherwise."""
    from nasforge.store import open_store

    store = open_store(url, create=False, readonly=True)
    try:
        store.list_searches()
    finally:
        store.close()


def streamlit_command(url: str, *, port: int, host: str, cache_dir: Path | None = None
                      ) -> list[str]:
    """argv of the Streamlit server for the store at `url`; ConfigError / StoreError name
    a bad port, a missing Streamlit or a bad store before anything starts."""
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
    command = [sys.executable, "-m", "streamlit", "run", str(APP),
               "--server.port", str(port), "--server.address", host,
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false",
               "--global.developmentMode", "false", "--", "--storage", url]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    return command
