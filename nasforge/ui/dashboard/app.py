"""The nasforge dashboard (Streamlit script). Run it with `nasforge dashboard`, which passes
``-- --storage URL [--cache-dir DIR]``; tests set ``st.session_state["storage"]`` instead."""

from __future__ import annotations

import argparse
import sys

import streamlit as st

from nasforge.errors import NasforgeError
from nasforge.ui.dashboard import (
    compare,
    detail,
    history,
    parameters,
    pareto,
    searches,
    trials,
)
from nasforge.ui.dashboard.data import Context

PAGES = {
    "Searches": searches.render,
    "Pareto front": pareto.render,
    "History": history.render,
    "Trials": trials.render,
    "Parameters": parameters.render,
    "Trial detail": detail.render,
    "Compare": compare.render,
}
NEEDS_SEARCH = {"Pareto front", "History", "Trials", "Parameters", "Trial detail"}


def _arguments() -> tuple[str, str | None]:
    parser = argparse.ArgumentParser(prog="nasforge dashboard", add_help=False)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--cache-dir", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    storage = st.session_state.get("storage") or known.storage
    if not storage:
        st.error("No store given: start the dashboard with `nasforge dashboard --storage URL`.")
        st.stop()
    return storage, st.session_state.get("cache_dir") or known.cache_dir


def main() -> None:
    st.set_page_config(page_title="nasforge dashboard", layout="wide")
    url, cache_dir = _arguments()
    try:
        ctx = Context.open(url, cache_dir)
    except NasforgeError as err:
        st.error(str(err))
        st.stop()
    st.sidebar.title("nasforge")
    st.sidebar.caption(ctx.url)
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    if not ctx.searches:
        st.info(f"The store {ctx.url} holds no searches yet; start one with `nasforge search`.")
        return
    name = None
    if page in NEEDS_SEARCH:
        name = st.sidebar.selectbox("Search", ctx.names, key="search")
    PAGES[page](ctx, name)


if __name__ == "__main__":
    main()
