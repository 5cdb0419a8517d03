"""History page: best-so-far per objective and hypervolume over finished trials, against a
random search on the same space and data when the store has one."""

from __future__ import annotations

import numpy as np
import streamlit as st

from nasforge.ui import charts, queries
from nasforge.ui.dashboard import links
from nasforge.ui.dashboard.data import Context


def render(ctx: Context, name: str | None) -> None:
    assert name is not None
    search = ctx.search(name)
    objectives = search.objectives
    st.header(f"History of {name}")
    frame = ctx.trials(name)
    reference_name = queries.random_reference(ctx.searches, name)
    reference = ctx.trials(reference_name) if reference_name else None
    parts = [frame] + ([reference] if reference is not None else [])
    points = np.vstack([queries.objective_points(p, objectives) for p in parts])
    ref_point = queries.reference_point(points) if len(objectives) <= 3 else None
    this = queries.history_frame(frame, objectives, ref_point)
    other = (queries.history_frame(reference, objectives, ref_point)
             if reference is not None else None)
    if this.empty:
        st.info("No trial has finished yet.")
        return
    st.plotly_chart(charts.history_figure(this, objectives, other,
                                          f"random search {reference_name}"),
                    key="history_chart", width="stretch")
    if reference_name:
        st.caption(f"Dashed: the random search {reference_name!r} on the same space and data "
                   "(hypervolumes share one reference point).")
    else:
        st.caption("No random search on the same space and data in this store, so no "
                   "reference line; run one (strategy = \"random\") to compare.")
    if len(objectives) > 3:
        st.caption("Hypervolume is exact for up to 3 objectives; not shown.")


if __name__ == "__main__":
    render(*links.current())
