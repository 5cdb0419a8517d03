"""Searches page: every search with status, budget, progress and best values; refreshes by
itself while a search runs."""

from __future__ import annotations

import streamlit as st

from nasforge.ui import queries
from nasforge.ui.dashboard import links
from nasforge.ui.dashboard.data import Context

REFRESH_SECONDS = 5


def render(ctx: Context, name: str | None = None) -> None:
    st.header("Searches")
    running = any(queries.search_status(s) == "running" for s in ctx.searches)

    @st.fragment(run_every=REFRESH_SECONDS if running else None)
    def table() -> None:
        fresh = Context.open(ctx.url, ctx.cache_dir) if running else ctx
        best = {s.name: fresh.best(s.name) for s in fresh.searches}
        frame = queries.searches_frame(fresh.searches, best)
        frame.insert(1, "front", [links.page_url("pareto", n) for n in frame["name"]])
        st.dataframe(frame, hide_index=True, key="searches_table", column_config={
            "front": st.column_config.LinkColumn("front", display_text="Pareto front"),
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0,
                                                        max_value=1.0, format="percent")})
        if running:
            st.caption(f"A search is running: this table refreshes every {REFRESH_SECONDS} s.")

    table()


if __name__ == "__main__":
    render(*links.current())
