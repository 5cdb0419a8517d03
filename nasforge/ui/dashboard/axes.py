"""The "log x / log y" switches of the Pareto and Compare pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nasforge.ui import queries


def log_toggle(column: st.delta_generator.DeltaGenerator, label: str, values: pd.Series,
               key: str) -> bool:
    """A "log" switch for one axis: on by default where the values span decades (params,
    MACs, BOPs), unavailable where some value is not positive. The default follows the
    metric: switching the metric resets it. A switch left on from other values (another
    search) never puts a value that is not positive on a log axis."""
    possible = queries.log_possible(values)
    toggle = column.toggle(label, value=possible and queries.spans_decades(values),
                           disabled=not possible, key=f"{key}:{values.name}")
    return possible and bool(toggle)
