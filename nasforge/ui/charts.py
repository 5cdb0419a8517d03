"""Plotly figures of the dashboard: pure functions of DataFrames (`ui.queries`), no Streamlit.

Every scatter of trials carries the trial number as ``customdata[0]`` so that a selected
point names its trial.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import SupportsFloat, SupportsIndex

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from nasforge.objectives import Objective
from nasforge.ui.queries import PARAM_PREFIX, arch_summary, front_mask

#: Above this many points a scatter is drawn with WebGL (SVG slows down past a few thousand).
WEBGL_POINTS = 2000
_FADED = "rgba(120, 120, 120, 0.25)"
_HOVER_METRICS = 6


def _scatter(n: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if n > WEBGL_POINTS else go.Scatter


def hover_text(frame: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """Per row: trial number, architecture summary and up to six metrics, as HTML lines."""
    shown = [m for m in metrics if m in frame][:_HOVER_METRICS]
    columns = [frame[m].to_numpy() for m in shown]
    numbers = frame["number"].to_numpy()
    summaries = (frame["summary"].tolist() if "summary" in frame
                 else [arch_summary(json.loads(a)) for a in frame["arch"]] if "arch" in frame
                 else [""] * len(frame))
    texts = []
    for i in range(len(frame)):
        lines = [f"<b>trial {numbers[i]}</b>", str(summaries[i])]
        lines += [f"{m}: {_fmt(columns[j][i])}" for j, m in enumerate(shown)]
        texts.append("<br>".join(lines))
    return texts


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):  # most values: skip the protocol checks
        return "" if math.isnan(value) else f"{value:.4g}"
    if not isinstance(value, (SupportsFloat, SupportsIndex, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if math.isnan(number) else f"{number:.4g}"


def _front_order(front: pd.DataFrame, x: Objective, y: Objective) -> np.ndarray:
    """Front rows by x, then y: the order in which the connecting line runs."""
    return np.lexsort((front[y.metric].to_numpy(), front[x.metric].to_numpy()))


def _axes(fig: go.Figure, log_x: bool, log_y: bool) -> go.Figure:
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def pareto_figure(frame: pd.DataFrame, x: Objective, y: Objective, color: str | None = None,
                  metrics: Sequence[str] = (), title: str = "", *, log_x: bool = False,
                  log_y: bool = False, total: int | None = None) -> go.Figure:
    """Trials on (x, y): the Pareto front of these two objectives large and connected in
    order of x, dominated and unfinished trials faded; `color` (a metric column) colours
    every point on one scale. `metrics`: shown on hover besides x, y and colour. `log_x`,
    `log_y`: logarithmic axes (for positive values spanning decades: params, MACs).
    `total`: the trials there are, when `frame` is a sample of them (with their whole front:
    `dashboard.sampling.pareto_sample`)."""
    done = frame[frame[x.metric].notna() & frame[y.metric].notna()] if len(frame) else frame
    on_front = front_mask(done, (x, y))
    hover = [x.metric, y.metric, *([color] if color else []),
             *(m for m in metrics if m not in (x.metric, y.metric, color))]
    text = np.array(hover_text(done, hover), dtype=object)
    colour = done[color].to_numpy(dtype=np.float64) if color and color in done else None
    fig = go.Figure()
    rest = ~on_front
    scatter = _scatter(len(done))
    marker: dict[str, object] = {"size": 6, "color": _FADED}
    if colour is not None:
        marker = {"size": 6, "color": colour[rest], "colorscale": "Viridis", "opacity": 0.3,
                  "cmin": np.nanmin(colour) if len(colour) else None,
                  "cmax": np.nanmax(colour) if len(colour) else None}
    fig.add_trace(scatter(
        x=done[x.metric].to_numpy()[rest], y=done[y.metric].to_numpy()[rest], mode="markers",
        name="dominated", marker=marker, text=text[rest], hoverinfo="text",
        customdata=done["number"].to_numpy()[rest].reshape(-1, 1)))
    order = _front_order(done[on_front], x, y)
    front = done[on_front].iloc[order]
    front_marker: dict[str, object] = {"size": 11, "color": "#d62728",
                                       "line": {"width": 1.5, "color": "black"}}
    if colour is not None:
        front_marker.update(color=colour[on_front][order], colorscale="Viridis",
                            cmin=marker["cmin"], cmax=marker["cmax"], showscale=True,
                            colorbar={"title": {"text": color}})
    fig.add_trace(scatter(
        x=front[x.metric], y=front[y.metric], mode="lines+markers", name="Pareto front",
        line={"color": "#d62728", "width": 2, "shape": "linear"}, marker=front_marker,
        text=text[on_front][order], hoverinfo="text",
        customdata=front["number"].to_numpy().reshape(-1, 1)))
    fig.update_layout(
        title=title or (f"Pareto front: {x} vs {y} ({int(on_front.sum())} of "
                        f"{len(done) if total is None else total} trials)"),
        xaxis_title=str(x), yaxis_title=str(y), hovermode="closest", clickmode="event+select",
        legend={"orientation": "h", "y": -0.15}, margin={"t": 50, "b": 40})
    return _axes(fig, log_x, log_y)


def compare_figure(frames: Mapping[str, pd.DataFrame], x: Objective, y: Objective, *,
                   log_x: bool = False, log_y: bool = False) -> go.Figure:
    """Several searches on one plot: each search's trials faded in its colour, its own
    Pareto front of (x, y) drawn over them; `log_x`, `log_y` as in `pareto_figure`."""
    fig = go.Figure()
    palette = qualitative.Plotly
    for k, (name, frame) in enumerate(frames.items()):
        colour = palette[k % len(palette)]
        done = frame[frame[x.metric].notna() & frame[y.metric].notna()] if len(frame) \
            else frame
        on_front = front_mask(done, (x, y))
        text = np.array(hover_text(done, [x.metric, y.metric]), dtype=object)
        scatter = _scatter(len(done))
        fig.add_trace(scatter(x=done[x.metric][~on_front], y=done[y.metric][~on_front],
                              mode="markers", name=f"{name} (dominated)", legendgroup=name,
                              marker={"size": 5, "color": colour, "opacity": 0.2},
                              text=text[~on_front], hoverinfo="text", showlegend=False,
                              customdata=done["number"][~on_front].to_numpy().reshape(-1, 1)))
        order = _front_order(done[on_front], x, y)
        front = done[on_front].iloc[order]
        fig.add_trace(scatter(x=front[x.metric], y=front[y.metric], mode="lines+markers",
                              name=f"{name} front", legendgroup=name,
                              line={"color": colour, "width": 2},
                              marker={"size": 9, "color": colour},
                              text=text[on_front][order], hoverinfo="text",
                              customdata=front["number"].to_numpy().reshape(-1, 1)))
    fig.update_layout(title=f"Pareto fronts: {x} vs {y}", xaxis_title=str(x),
                      yaxis_title=str(y), hovermode="closest")
    return _axes(fig, log_x, log_y)


def history_figure(history: pd.DataFrame, objectives: Sequence[Objective],
                   reference: pd.DataFrame | None = None, reference_name: str = "random"
                   ) -> go.Figure:
    """Best-so-far of each objective and the hypervolume, against the number of finished
    trials (`queries.history_frame`); `reference`: the same for a random search, dashed."""
    show_hv = "hypervolume" in history and history["hypervolume"].notna().any()
    rows = len(objectives) + int(bool(show_hv))
    titles = [f"best {o} so far" for o in objectives] + (["hypervolume"] if show_hv else [])
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=0.08)
    columns = [f"best {o}" for o in objectives] + (["hypervolume"] if show_hv else [])
    for row, column in enumerate(columns, start=1):
        fig.add_trace(go.Scatter(x=history["index"], y=history[column], mode="lines",
                                 line={"shape": "hv", "color": "#1f77b4"}, name="this search",
                                 legendgroup="this", showlegend=row == 1), row=row, col=1)
        if reference is not None and column in reference:
            fig.add_trace(go.Scatter(x=reference["index"], y=reference[column], mode="lines",
                                     line={"shape": "hv", "dash": "dash", "color": "#7f7f7f"},
                                     name=reference_name, legendgroup="ref",
                                     showlegend=row == 1), row=row, col=1)
    fig.update_xaxes(title_text="finished trials", row=rows, col=1)
    fig.update_layout(height=max(320, 230 * rows), title="History", margin={"t": 60})
    return fig


def _dimension(frame: pd.DataFrame, column: str, label: str) -> dict[str, object]:
    values = frame[column]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        return {"label": label, "values": values.astype(float)}
    labels = sorted(values.astype(str).unique())
    codes = values.astype(str).map({v: i for i, v in enumerate(labels)})
    return {"label": label, "values": codes, "tickvals": list(range(len(labels))),
            "ticktext": labels}


def parallel_figure(frame: pd.DataFrame, params: Sequence[str], objectives: Sequence[Objective]
                    ) -> go.Figure:
    """Parallel coordinates over `params` (columns, categorical ones as coded axes) and the
    objectives, coloured by the first objective. Rows missing any shown value are left out."""
    columns = [*params, *(o.metric for o in objectives if o.metric in frame)]
    data = frame.dropna(subset=columns)
    dims = [_dimension(data, c, c.removeprefix(PARAM_PREFIX)) for c in columns]
    first = objectives[0].metric if objectives else None
    line = ({"color": data[first].astype(float), "colorscale": "Viridis", "showscale": True,
             "colorbar": {"title": {"text": first}}}
            if first and first in data else {})
    fig = go.Figure(go.Parcoords(dimensions=dims, line=line))
    fig.update_layout(title=f"Parameters and objectives ({len(data)} trials)",
                      margin={"l": 60, "r": 60})
    return fig


def importance_figure(importances: pd.DataFrame, objective: Objective) -> go.Figure:
    """Horizontal bars, most important parameter on top."""
    data = importances.sort_values("importance")
    fig = go.Figure(go.Bar(x=data["importance"], y=data["param"], orientation="h",
                           marker_color="#1f77b4"))
    fig.update_layout(title=f"Parameter importance for {objective}",
                      xaxis_title="importance (fANOVA, sums to 1)",
                      height=max(260, 40 * len(data) + 100))
    return fig


def breakdown_figure(frame: pd.DataFrame, column: str, metrics: Sequence[str]) -> go.Figure:
    """Per choice of parameter `column` (activation, norm, bit width ...): the distribution
    of each metric over COMPLETE trials, one box per choice, one panel per metric."""
    shown = [m for m in metrics if m in frame]
    fig = make_subplots(rows=1, cols=max(1, len(shown)), subplot_titles=shown)
    done = frame[(frame["state"] == "COMPLETE") & frame[column].notna()]
    labels = sorted(done[column].astype(str).unique(), key=_natural)
    for col, metric in enumerate(shown, start=1):
        for k, label in enumerate(labels):
            values = done.loc[done[column].astype(str) == label, metric]
            fig.add_trace(go.Box(y=values, name=label, boxmean=True, showlegend=False,
                                 marker_color=qualitative.Plotly[k % 10]), row=1, col=col)
    fig.update_layout(title=f"By {column.removeprefix(PARAM_PREFIX)}", height=380)
    return fig


def _natural(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def curve_figure(curve: pd.DataFrame) -> go.Figure:
    """Learning curves (`queries.curve_frame`): losses on the left panel, the rest (accuracy)
    on the right, each panel titled by its metrics, against the epoch."""
    metrics = list(dict.fromkeys(curve["metric"]))
    losses = [m for m in metrics if "loss" in m]
    others = [m for m in metrics if m not in losses]
    groups = [g for g in (losses, others) if g]
    fig = make_subplots(rows=1, cols=max(1, len(groups)),
                        subplot_titles=[_panel_title(g) for g in groups])
    for col, group in enumerate(groups, start=1):
        for metric in group:
            part = curve[curve["metric"] == metric]
            fig.add_trace(go.Scatter(x=part["epoch"], y=part["value"], mode="lines+markers",
                                     name=metric), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title="Learning curves", height=340)
    return fig


def _panel_title(metrics: Sequence[str]) -> str:
    """"loss" for val_loss and train_loss, "accuracy" for val_accuracy ..., else the names."""
    tails = {m.rsplit("_", 1)[-1] for m in metrics}
    return tails.pop() if len(tails) == 1 else ", ".join(metrics)


#: Radius of a cell node in pixels (the marker's size is its diameter).
_NODE_RADIUS = 17


def _arc(x0: float, x1: float, height: float, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Points of a parabola from (x0, 0) to (x1, 0) whose apex is at `height`."""
    t = np.linspace(0.0, 1.0, n)
    return x0 + (x1 - x0) * t, 4.0 * height * t * (1.0 - t)


def cell_figure(graph: nx.DiGraph, title: str = "Cell") -> go.Figure:
    """A cell DAG (`searchspace.cells.cell_graph`): nodes on a line left to right (0 the
    input, the last the output). An edge between neighbours is straight; a longer one arcs,
    above or below by its source so that no two edges share a path or a label position; each
    edge is coloured by its operation (legend) and labelled at its middle; the arrowheads
    stop at the node's rim."""
    nodes = sorted(graph.nodes)
    ops = sorted({str(d.get("op", "")) for _, _, d in graph.edges(data=True)})
    colours = {op: qualitative.D3[k % len(qualitative.D3)] for k, op in enumerate(ops)}
    fig = go.Figure()
    shown: set[str] = set()
    heights = [0.0]
    for source, target, data in sorted(graph.edges(data=True)):
        op = str(data.get("op", ""))
        span = target - source
        height = 0.0 if span == 1 else 0.45 * (span - 1) * (1 if source % 2 == 0 else -1)
        heights.append(height)
        xs, ys = _arc(float(source), float(target), height)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=op, legendgroup=op,
                                 showlegend=op not in shown, hoverinfo="text",
                                 text=f"{source} -> {target}: {op}",
                                 line={"color": colours[op], "width": 2}))
        shown.add(op)
        fig.add_annotation(x=xs[-1], y=ys[-1], ax=xs[-3], ay=ys[-3], xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1.4,
                           arrowcolor=colours[op], standoff=_NODE_RADIUS + 1, text="")
        mid = len(xs) // 2
        fig.add_annotation(x=xs[mid], y=ys[mid], text=op, showarrow=False,
                           font={"size": 11, "color": colours[op]},
                           bgcolor="rgba(255,255,255,0.9)")
    labels = ["in" if n == nodes[0] else "out" if n == nodes[-1] else str(n) for n in nodes]
    fig.add_trace(go.Scatter(x=[float(n) for n in nodes], y=[0.0] * len(nodes),
                             mode="markers+text", text=labels, textposition="middle center",
                             marker={"size": 2 * _NODE_RADIUS, "color": "#aec7e8",
                                     "line": {"color": "#1f77b4", "width": 2}},
                             hoverinfo="text", showlegend=False))
    low, high = min(heights), max(heights)
    fig.update_layout(title=title, height=340, xaxis={"visible": False,
                                                      "range": [-0.4, nodes[-1] + 0.4]},
                      yaxis={"visible": False, "range": [low - 0.4, high + 0.4]},
                      plot_bgcolor="white", legend={"title": {"text": "operation"}})
    return fig


_KIND_COLOURS = {"Linear": "#1f77b4", "Conv": "#2ca02c", "Norm": "#9467bd",
                 "Activation": "#ff7f0e", "Dropout": "#c7c7c7", "Pool": "#8c564b",
                 "GlobalPool": "#8c564b", "Flatten": "#bcbd22", "Cell": "#d62728",
                 "Residual": "#e377c2", "SqueezeExcite": "#17becf", "Resize": "#aec7e8"}


def layer_figure(layers: pd.DataFrame, title: str = "Layer stack") -> go.Figure:
    """The layer stack (`architecture.layer_frame`), input at the top: one labelled bar per
    op, coloured by kind, with the output shape."""
    data = layers.iloc[::-1]
    fig = go.Figure(go.Bar(
        x=[1.0] * len(data), y=[f"{i}" for i in data["index"]], orientation="h",
        text=[f"{label}  ->  {shape}" for label, shape in zip(data["label"], data["shape"],
                                                                strict=True)],
        textposition="inside", insidetextanchor="start", hoverinfo="text",
        marker_color=[_KIND_COLOURS.get(k, "#7f7f7f") for k in data["kind"]]))
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis_title="layer",
                      height=max(240, 34 * len(data) + 90), bargap=0.15,
                      margin={"l": 50, "r": 10, "t": 50, "b": 10})
    return fig
