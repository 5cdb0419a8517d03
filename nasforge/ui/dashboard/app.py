"""The nasforge dashboard (Streamlit script). Run it with `nasforge dashboard`, which hands
over the store URL in this process's environment (``NASFORGE_STORAGE``: readable only by
its owner, unlike the command line) and passes ``-- [--cache-dir DIR]``; tests set
``st.session_state["storage"]`` instead.

This script draws the sidebar (store, search) and then runs the page the URL names
(`links.PAGES`: ``/pareto?search=NAME&trial=N`` ...)."""

from __future__ import annotations

import argparse
import os
import sys

import streamlit as st

from nasforge.errors import NasforgeError
from nasforge.store import safe_url
from nasforge.ui.dashboard import links
from nasforge.ui.dashboard.data import Context
from nasforge.ui.dashboard_launch import STORAGE_ENV


def _arguments() -> tuple[str, str | None]:
    parser = argparse.ArgumentParser(prog="nasforge dashboard", add_help=False)
    parser.add_argument("--cache-dir", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    # the entry point of the server process: its environment is its input, as for the CLI
    storage = st.session_state.get("storage") or os.environ.get(STORAGE_ENV)
    if not storage:
        st.error("No store given: start the dashboard with `nasforge dashboard --storage URL`.")
        st.stop()
    return storage, st.session_state.get("cache_dir") or known.cache_dir


def main() -> None:
    st.set_page_config(page_title="nasforge dashboard", layout="wide")
    from nasforge.plugins import load_plugins  # plugin families, layers, ...
    load_plugins()
    url, cache_dir = _arguments()
    try:
        ctx = Context.open(url, cache_dir)
    except NasforgeError as err:  # the store's messages show the URL without its password
        st.error(str(err))
        st.stop()
    page = st.navigation([spec.page() for spec in links.PAGES])
    st.sidebar.caption(f"store: {safe_url(url)}")
    if ctx.upgrade_note:  # the server keeps its connection: restart it after upgrading
        st.info(f"Note: {ctx.upgrade_note}; then restart the dashboard.")
    if not ctx.searches:
        st.info(f"The store {safe_url(url)} holds no searches yet; start one with "
                "`nasforge search`.")
        return
    spec = links.spec_for(page.url_path)
    name = links.choose_search(ctx) if spec.needs_search else None
    links.hand_over(ctx, name)
    page.run()


if __name__ == "__main__":
    main()
