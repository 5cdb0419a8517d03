"""Pareto front page: any two metrics on the axes (linear or log), a third as colour;
selecting a point (or choosing a trial below) opens that trial under the chart and puts it
in the URL (``?search=NAME&trial=N``). Beyond `sampling.CHART_POINTS` trials the chart draws
the whole front and a fixed sample of the rest, and says so; the trial selector offers the
drawn trials (and the one a link names)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nasforge.ui import charts, queries
from nasforge.ui.dashboard import detail, links, sampling
from nasforge.ui.dashboard.axes import log_toggle
from nasforge.ui.dashboard.data import Context

NONE = "(none)"
TRIAL_KEY = links.PARETO_TRIAL


def _defaults(objectives: list[str], metrics: list[str]) -> tuple[str, str, str]:
    y = objectives[0] if objectives else metrics[0]
    x = objectives[1] if len(objectives) > 1 else next((m for m in metrics if m != y), y)
    colour = objectives[2] if len(objectives) > 2 else NONE
    return x, y, colour


def _picked() -> None:
    """Chart selection -> the trial selector and the URL (a callback may set a widget's
    state)."""
    event = st.session_state.get("pareto_chart")
    points = (event or {}).get("selection", {}).get("points", [])
    if points and points[0].get("customdata"):
        st.session_state[TRIAL_KEY] = int(points[0]["customdata"][0])
        links.store_in_url(links.TRIAL, st.session_state[TRIAL_KEY])


def _kept(finished: pd.DataFrame, options: set[int]) -> list[int]:
    """The trials the URL and the selector name, where they have both values but are not
    drawn (a sample left them out): they stay choosable."""
    named = [st.query_params.get(links.TRIAL), st.session_state.get(TRIAL_KEY)]
    wanted = {int(n) for n in named if n is not None and str(n).isdigit()} - options
    return sorted(n for n in wanted if (finished["number"] == n).any())


def render(ctx: Context, name: str | None) -> None:
    assert name is not None
    search = ctx.search(name)
    frame = ctx.trials(name)
    st.header(f"Pareto front of {name}")
    metrics = [m for m in queries.metric_columns(frame) if frame[m].notna().any()]
    if not metrics:
        st.info("No trial has finished with metrics yet.")
        return
    objectives = [o.metric for o in search.objectives if o.metric in metrics]
    x0, y0, c0 = _defaults(objectives, metrics)
    left, middle, right = st.columns(3)
    x = left.selectbox("x axis", metrics, index=metrics.index(x0), key="pareto_x")
    y = middle.selectbox("y axis", metrics, index=metrics.index(y0), key="pareto_y")
    colours = [NONE, *metrics]
    colour = right.selectbox("colour", colours, index=colours.index(c0), key="pareto_colour")
    log_x = log_toggle(left, "log x", frame[x], "pareto_log_x")
    log_y = log_toggle(middle, "log y", frame[y], "pareto_log_y")
    ox, oy = (queries.direction_of(m, search.objectives) for m in (x, y))
    drawn = sampling.pareto_sample(frame, (ox, oy))
    fig = charts.pareto_figure(drawn.frame, ox, oy, None if colour == NONE else colour,
                               metrics=[o.metric for o in search.objectives],
                               log_x=log_x, log_y=log_y, total=drawn.total)
    st.plotly_chart(fig, key="pareto_chart", on_select=_picked, selection_mode="points",
                    width="stretch")
    shown = drawn.frame
    front = shown[queries.front_mask(shown, (ox, oy))].sort_values(x)
    st.caption(f"{ox} against {oy}: {len(front)} trials on the front (red), dominated trials "
               f"faded. Click a point to open its trial. {drawn.caption()}")
    on_front = set(front["number"].tolist())
    options = [*front["number"].tolist(),
               *(n for n in shown["number"].tolist() if n not in on_front)]
    options += _kept(frame[frame[x].notna() & frame[y].notna()], set(options))
    links.from_url(TRIAL_KEY, links.TRIAL, options)
    chosen = st.selectbox("Open trial (front first)", options, index=None, key=TRIAL_KEY,
                          placeholder="choose a trial or click a point",
                          on_change=links.to_url(TRIAL_KEY, links.TRIAL))
    links.store_in_url(links.TRIAL, chosen)
    if chosen is not None:
        detail.render_trial(ctx, name, int(chosen))


if __name__ == "__main__":
    render(*links.current())
