"""Trials page: every trial with all metrics and parameters; filter by state and by
parameter values, sort by any column (or click a column header). The table holds the first
`sampling.TABLE_ROWS` matching trials in the chosen order, and says how many match."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nasforge.records import TrialState
from nasforge.ui import queries
from nasforge.ui.dashboard import links, sampling
from nasforge.ui.dashboard.data import Context

#: Parameters with at most this many distinct values get a multiselect, others a range.
MAX_CHOICES = 24


def render(ctx: Context, name: str | None) -> None:
    assert name is not None
    frame = ctx.trials(name)
    st.header(f"Trials of {name}")
    present = [s.value for s in TrialState if (frame["state"] == s.value).any()]
    states = st.multiselect("State", present, default=present, key="trials_states")
    names = queries.display_names([c for c in frame.columns if c != "arch"])  # sortable
    choices: dict[str, list[object]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    with st.expander("Filter by parameters"):
        for column in queries.param_columns(frame):
            values = frame[column].dropna()
            distinct = values.drop_duplicates().tolist()
            if len(distinct) < 2:
                continue
            label = names[column]
            numeric = pd.api.types.is_numeric_dtype(values)
            if len(distinct) <= MAX_CHOICES or not numeric:
                picked = st.multiselect(label, sorted(distinct, key=str), key=f"f:{column}")
                if picked:
                    choices[column] = picked
            else:
                low, high = float(values.min()), float(values.max())
                chosen = st.slider(label, low, high, (low, high), key=f"f:{column}")
                if chosen != (low, high):
                    ranges[column] = chosen
    shown = queries.filter_trials(frame, states, choices, ranges)
    columns = {label: column for column, label in names.items()}
    left, right = st.columns([3, 1])
    by = left.selectbox("Sort by", list(columns), index=list(columns).index("number"),
                        key="trials_sort")
    ascending = right.toggle("ascending", value=True, key="trials_ascending")
    shown = shown.sort_values(columns[by], ascending=ascending, na_position="last",
                              kind="stable")
    matching = len(shown)
    shown = queries.described(shown.head(sampling.TABLE_ROWS)).rename(columns=names)
    if len(shown) < matching:
        st.caption(f"Showing the first {len(shown):,} of {matching:,} matching trials "
                   f"({len(frame):,} in all) in this order: sort or filter to see others. "
                   "\"open\" links to a trial's page.")
    else:
        st.caption(f"{matching:,} of {len(frame):,} trials; \"open\" links to a trial's page.")
    shown.insert(0, "open", [links.page_url("trial", name, int(n)) for n in shown["number"]])
    st.dataframe(shown, hide_index=True, key="trials_table", column_config={
        "open": st.column_config.LinkColumn("open", display_text="open")})


if __name__ == "__main__":
    render(*links.current())
