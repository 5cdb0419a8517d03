"""Parameters page: parallel coordinates, parameter importance (Optuna's fANOVA on the
stored trials) and per-choice breakdowns (activation, norm, bit widths ...)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nasforge.objectives import Objective
from nasforge.ui import charts, queries
from nasforge.ui.dashboard import links, sampling
from nasforge.ui.dashboard.data import Context
from nasforge.ui.importance import param_importances

BREAKDOWN_FIRST = ("activation", "norm", "weight_bits", "act_bits", "family", "quant_step")


@st.cache_data(show_spinner="computing parameter importance ...", max_entries=32)
def _importance(url: str, name: str, signature: tuple[tuple[str, int], ...], metric: str,
                direction: str, _frame: pd.DataFrame) -> pd.DataFrame:
    del url, name, signature  # cache key only (the frame is not hashed)
    return param_importances(_frame, Objective(metric, direction))


def render(ctx: Context, name: str | None) -> None:
    assert name is not None
    search = ctx.search(name)
    frame = ctx.trials(name)
    st.header(f"Parameters of {name}")
    done = frame[frame["state"] == "COMPLETE"]
    varying = [c for c in queries.param_columns(done) if done[c].nunique(dropna=True) > 1]
    if done.empty or not varying:
        st.info("No completed trials with varying parameters yet.")
        return
    labels = {c.removeprefix(queries.PARAM_PREFIX): c for c in varying}
    picked = st.multiselect("Parallel coordinates over", list(labels),
                            default=list(labels)[:8], key="parallel_params")
    lines = sampling.sample_rows(done)
    st.plotly_chart(charts.parallel_figure(lines.frame, [labels[p] for p in picked],
                                           search.objectives),
                    key="parallel_chart", width="stretch")
    st.caption(lines.caption("completed trials"))

    st.subheader("Parameter importance")
    objective_names = [str(o) for o in search.objectives]
    chosen = st.selectbox("Objective", objective_names, key="importance_objective")
    objective = search.objectives[objective_names.index(chosen)]
    signature = tuple(sorted(search.trial_counts.items()))
    if objective.metric in done and done[objective.metric].nunique(dropna=True) < 2:
        st.caption(f"{objective.metric} has the same value in every completed trial, so no "
                   "parameter explains it: no importance to estimate.")
    elif len(importances := _importance(ctx.url, name, signature, objective.metric,
                                         objective.direction, frame)):
        st.plotly_chart(charts.importance_figure(importances, objective),
                        key="importance_chart", width="stretch")
    else:
        st.caption("Too few completed trials (or no parameter present in all of them) to "
                   "estimate importance.")

    st.subheader("Breakdown by choice")
    ordered = sorted(labels, key=lambda p: (p not in BREAKDOWN_FIRST, p))
    by = st.selectbox("Parameter", ordered, key="breakdown_param")
    metrics = [o.metric for o in search.objectives]
    st.plotly_chart(charts.breakdown_figure(done, labels[by], metrics),
                    key="breakdown_chart", width="stretch")
    st.dataframe(queries.breakdown_frame(done, labels[by], metrics), hide_index=True,
                 key="breakdown_table")


if __name__ == "__main__":
    render(*links.current())
