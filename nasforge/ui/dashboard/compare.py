"""Compare page: two or more searches on one Pareto plot (each search's front whole; beyond
`sampling.CHART_POINTS` points in all, a fixed sample of the rest, as the page says)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nasforge.ui import charts, queries
from nasforge.ui.dashboard import links, sampling
from nasforge.ui.dashboard.axes import log_toggle
from nasforge.ui.dashboard.data import Context


def render(ctx: Context, name: str | None = None) -> None:
    st.header("Compare searches")
    names = ctx.names
    chosen = st.multiselect("Searches", names, default=names[:2], key="compare_searches")
    if len(chosen) < 1:
        st.info("Choose two or more searches.")
        return
    metrics = ctx.metrics(chosen)
    if not metrics:
        st.info("None of these searches has finished trials with metrics yet.")
        return
    first = ctx.search(chosen[0]).objectives
    y0 = first[0].metric if first and first[0].metric in metrics else metrics[0]
    x0 = (first[1].metric if len(first) > 1 and first[1].metric in metrics
          else next((m for m in metrics if m != y0), y0))
    left, right = st.columns(2)
    x = left.selectbox("x axis", metrics, index=metrics.index(x0), key="compare_x")
    y = right.selectbox("y axis", metrics, index=metrics.index(y0), key="compare_y")
    frames = {n: ctx.trials(n) for n in chosen}
    frames = {n: f for n, f in frames.items() if x in f and y in f}
    if not frames:
        st.info(f"None of these searches has both {x} and {y}; choose other axes.")
        return
    both = pd.concat([f[[x, y]] for f in frames.values()], ignore_index=True)
    log_x = log_toggle(left, "log x", both[x], "compare_log_x")
    log_y = log_toggle(right, "log y", both[y], "compare_log_y")
    ox, oy = (queries.direction_of(m, first) for m in (x, y))
    limit = max(1, sampling.CHART_POINTS // len(frames))
    drawn = {n: sampling.pareto_sample(f, (ox, oy), limit) for n, f in frames.items()}
    st.plotly_chart(charts.compare_figure({n: d.frame for n, d in drawn.items()}, ox, oy,
                                          log_x=log_x, log_y=log_y),
                    key="compare_chart", width="stretch")
    st.caption(" ".join(f"{n}: {d.caption()}" for n, d in drawn.items()))


if __name__ == "__main__":
    render(*links.current())
