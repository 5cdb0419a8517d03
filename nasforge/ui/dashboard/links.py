"""The dashboard's URLs: one page per path (``/pareto``, ``/trial`` ...) and the chosen search
and trial in the query string (``/pareto?search=quickstart&trial=12``), so that a copied URL
opens the same page, search and trial.

A widget bound to a query parameter takes the URL's value before it is drawn (`from_url`)
and writes its value back when the user changes it (`to_url`, its on_change callback).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from nasforge.ui.dashboard.data import Context

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

HERE = Path(__file__).resolve().parent
SEARCH = "search"
TRIAL = "trial"
_CURRENT = "_nasforge_page_args"
_LAST_SEARCH = "_nasforge_last_search"
#: The trial selectors (Pareto, Trial detail): a trial number of one search only.
PARETO_TRIAL = "pareto_trial"
DETAIL_TRIAL = "detail_trial"


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page: its script (next to app.py), title, URL path ("": the root, the default
    page) and whether it shows one search (then the sidebar offers the search, kept in
    ``?search=``)."""

    script: str
    title: str
    url_path: str
    needs_search: bool

    def page(self) -> StreamlitPage:
        return st.Page(str(HERE / self.script), title=self.title, url_path=self.url_path,
                       default=not self.url_path)


PAGES = (
    PageSpec("searches.py", "Searches", "", needs_search=False),
    PageSpec("pareto.py", "Pareto front", "pareto", needs_search=True),
    PageSpec("history.py", "History", "history", needs_search=True),
    PageSpec("trials.py", "Trials", "trials", needs_search=True),
    PageSpec("parameters.py", "Parameters", "parameters", needs_search=True),
    PageSpec("detail.py", "Trial detail", "trial", needs_search=True),
    PageSpec("compare.py", "Compare", "compare", needs_search=False),
)


def spec_for(url_path: str) -> PageSpec:
    """The page at `url_path` (Searches for "" and any unknown path)."""
    return next((p for p in PAGES if p.url_path == url_path), PAGES[0])


def page_url(url_path: str, search: str | None = None, trial: int | None = None) -> str:
    """A relative link to a page with its search and trial (the Searches table links)."""
    from urllib.parse import urlencode

    query = {k: v for k, v in ((SEARCH, search), (TRIAL, trial)) if v is not None}
    return f"{url_path}?{urlencode(query)}" if query else url_path


def from_url(key: str, param: str, options: Sequence[object]) -> None:
    """Before the widget `key` (choosing among `options`) is drawn: a valid value of query
    parameter `param` becomes the widget's value."""
    wanted = st.query_params.get(param)
    by_text = {str(o): o for o in options}
    if wanted in by_text and st.session_state.get(key) != by_text[wanted]:
        st.session_state[key] = by_text[wanted]
    elif wanted is not None and wanted not in by_text:
        st.warning(f"The link names {param} {wanted!r}, which is not here; showing another. "
                   f"Choose one of: {', '.join(list(by_text)[:20])}.")


def to_url(key: str, param: str) -> Callable[[], None]:
    """on_change callback: the widget's value (None removes it) into query parameter `param`."""

    def write() -> None:
        store_in_url(param, st.session_state.get(key))

    return write


def store_in_url(param: str, value: object) -> None:
    if value is None:
        st.query_params.pop(param, None)
    elif st.query_params.get(param) != str(value):
        st.query_params[param] = str(value)


def choose_search(ctx: Context) -> str:
    """The sidebar's search selector, bound to ``?search=``. A page opened from the
    navigation (whose links carry no query) keeps the search chosen last."""
    remembered = st.session_state.get(_LAST_SEARCH)
    if st.query_params.get(SEARCH) not in ctx.names and remembered in ctx.names:
        st.session_state[SEARCH] = remembered
    from_url(SEARCH, SEARCH, ctx.names)
    name = st.sidebar.selectbox("Search", ctx.names, key=SEARCH, on_change=_search_changed)
    store_in_url(SEARCH, name)
    st.session_state[_LAST_SEARCH] = name
    return str(name)


def _search_changed() -> None:
    """Another search: its trial numbers mean other trials, so the chosen trial goes, from
    the URL and from the trial selectors."""
    store_in_url(SEARCH, st.session_state.get(SEARCH))
    st.query_params.pop(TRIAL, None)
    for key in (PARETO_TRIAL, DETAIL_TRIAL):
        st.session_state.pop(key, None)


def hand_over(ctx: Context, name: str | None) -> None:
    """The main script's store context and search, for the page script it runs next."""
    st.session_state[_CURRENT] = (ctx, name)


def current() -> tuple[Context, str | None]:
    """What `hand_over` left for this run's page."""
    if _CURRENT not in st.session_state:
        st.error("Open the dashboard through `nasforge dashboard`, not a page's file.")
        st.stop()
    return st.session_state[_CURRENT]
