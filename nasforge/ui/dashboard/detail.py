"""Trial detail page: architecture diagram (cell DAG and layer stack), learning curves,
metrics, failure reason, and model.py to download (what `nasforge export` writes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nasforge.errors import NasforgeError
from nasforge.records import TrialState
from nasforge.searchspace.cells import cell_graph
from nasforge.ui import architecture, charts, queries
from nasforge.ui.dashboard import links
from nasforge.ui.dashboard.data import Context

TRIAL_KEY = links.DETAIL_TRIAL


def render(ctx: Context, name: str | None) -> None:
    assert name is not None
    frame = ctx.trials(name)
    st.header(f"Trial detail ({name})")
    if frame.empty:
        st.info("The search has no trials yet.")
        return
    numbers = frame["number"].tolist()
    links.from_url(TRIAL_KEY, links.TRIAL, numbers)
    chosen = st.selectbox("Trial", numbers, key=TRIAL_KEY,
                          on_change=links.to_url(TRIAL_KEY, links.TRIAL))
    links.store_in_url(links.TRIAL, chosen)
    render_trial(ctx, name, int(chosen))


def render_trial(ctx: Context, name: str, number: int) -> None:
    """Everything about one trial (also shown under the Pareto chart)."""
    search = ctx.search(name)
    trial = ctx.trial(name, number)
    with st.container(border=True, key="trial_detail"):
        st.subheader(f"Trial {number}: {trial.state.value}")
        st.caption(f"arch_id {trial.arch_id} | {queries.arch_summary(trial.arch)}")
        if trial.error:  # the trial's failure, not the dashboard's: a warning, not an error
            st.warning(f"Failed: {trial.error}")
        left, right = st.columns(2)
        left.markdown("**Metrics**")
        left.dataframe(pd.DataFrame({"metric": list(trial.metrics),
                                     "value": list(trial.metrics.values())}),
                       hide_index=True, key=f"metrics_{number}")
        right.markdown("**Parameters**")
        right.dataframe(pd.DataFrame({"parameter": list(trial.arch),
                                      "value": [str(v) for v in trial.arch.values()]}),
                        hide_index=True, key=f"params_{number}")
        nodes = queries.cell_nodes(trial.arch)
        if nodes:
            graph = cell_graph(trial.arch, nodes)
            st.plotly_chart(charts.cell_figure(graph, f"Cell of trial {number}"),
                            key=f"cell_{number}", width="stretch")
        data = ctx.data(name)
        plan = None
        if isinstance(data, str):
            st.caption(f"No layer stack or model.py: {data}")
        else:
            try:
                plan = architecture.trial_plan(trial, data.spec)
            except NasforgeError as err:
                st.caption(f"No layer stack: {err}")
        if plan is not None:
            st.plotly_chart(charts.layer_figure(architecture.layer_frame(plan),
                                                f"Layer stack of trial {number}"),
                            key=f"layers_{number}", width="stretch")
        if trial.curve:
            st.plotly_chart(charts.curve_figure(queries.curve_frame(trial.curve)),
                            key=f"curve_{number}", width="stretch")
        checked = data if isinstance(data, architecture.SearchData) else None
        # a plan implies the search's data (checked), since `data` was no error text above
        if plan is not None and trial.state is TrialState.COMPLETE and checked is not None:
            if checked.refused:
                st.error(checked.refused)  # data changed since the search: no model.py of it
            else:
                source = architecture.model_source(search, trial, checked)
                st.download_button("Export model.py", source, file_name=f"model_{name}_"
                                   f"{number:04d}.py", mime="text/x-python",
                                   key=f"export_{number}", on_click="ignore")
                note = checked.note
                st.caption(f"The same model.py as `nasforge export {name} --trial {number}`; "
                           "weights and ONNX: use that command with --weights / --onnx."
                           + (f" Note: {note}" if note else ""))
        elif plan is not None:
            st.caption("Only COMPLETE trials can be exported.")


if __name__ == "__main__":
    render(*links.current())
