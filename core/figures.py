"""Plotly figures for the dashboard, built from plain arrays and dicts so tests can call them without Streamlit."""

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.calibration import Reliability
from core.cards import ClassCounts, EpochRecord
from core.metrics import Sweep
from core.reporting import CLASS_NAMES

METRIC_COLOURS = {"sensitivity": "#c0392b", "specificity": "#2b6777", "balanced_accuracy": "#6c5b7b", "precision": "#b8860b"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), font=dict(size=13))


def confusion_matrix_figure(counts: Mapping[str, int], title: str = "") -> go.Figure:
    """2x2 matrix, actual class in rows (Normal on top), with counts and row percentages."""
    rows = [("tn", "fp"), ("fn", "tp")]
    values = np.array([[counts[cell] for cell in row] for row in rows], float)
    totals = values.sum(axis=1, keepdims=True)
    percent = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0) * 100
    text = [[f"<b>{cell.upper()}</b><br>{int(values[i, j])}<br>{percent[i, j]:.1f}% of row" for j, cell in enumerate(row)]
            for i, row in enumerate(rows)]
    figure = go.Figure(go.Heatmap(
        z=percent, x=[f"Predicted {c}" for c in CLASS_NAMES], y=[f"Actual {c}" for c in CLASS_NAMES], text=text,
        texttemplate="%{text}", textfont=dict(size=15), colorscale=[[0, "#f4f8f9"], [1, "#2b6777"]], zmin=0, zmax=100,
        showscale=False, hoverinfo="skip",
    ))
    figure.update_yaxes(autorange="reversed")
    return figure.update_layout(title=title, height=330, **_LAYOUT)


@dataclass(frozen=True)
class RocCurve:
    name: str
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    point: tuple[float, float]  # (false-positive rate, sensitivity) at the current threshold
    threshold: float
    colour: str

    @classmethod
    def at(cls, name: str, sweep: Sweep, auc: float, point: Mapping[str, float], threshold: float, colour: str) -> "RocCurve":
        """A model's ROC curve from its sweep, marked where its metrics at the current threshold put it."""
        return cls(name, *sweep.roc(), auc, (1 - point["specificity"], point["sensitivity"]), threshold, colour)


def roc_figure(curves: Sequence[RocCurve], title: str = "ROC curve") -> go.Figure:
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#9aa5ab"),
                                  name="chance", hoverinfo="skip"))
    for curve in curves:
        figure.add_trace(go.Scatter(x=curve.fpr, y=curve.tpr, mode="lines", line=dict(color=curve.colour, width=2.5),
                                    line_shape="hv", name=f"{curve.name} (AUC {curve.auc:.3f})"))
        figure.add_trace(go.Scatter(
            x=[curve.point[0]], y=[curve.point[1]], mode="markers", marker=dict(size=13, color=curve.colour, line=dict(width=2, color="white")),
            name=f"{curve.name} at {curve.threshold:.3f}",
            hovertemplate=f"threshold {curve.threshold:.4f}<br>1 - specificity %{{x:.3f}}<br>sensitivity %{{y:.3f}}<extra></extra>",
        ))
    figure.update_xaxes(title="1 − specificity (false-positive rate)", range=[-0.01, 1.01])
    figure.update_yaxes(title="Sensitivity (true-positive rate)", range=[-0.01, 1.01])
    return figure.update_layout(title=title, height=420, legend=dict(x=0.42, y=0.05), **_LAYOUT)


def threshold_sweep_figure(sweep: Sweep, threshold: float) -> go.Figure:
    """Sensitivity, specificity, balanced accuracy and precision against threshold (the report's Figure 4)."""
    figure = go.Figure()
    for name, colour in METRIC_COLOURS.items():
        figure.add_trace(go.Scatter(x=sweep.thresholds, y=sweep.metrics[name], mode="lines", line_shape="hv",
                                    line=dict(color=colour, width=2), name=name.replace("_", " ").capitalize()))
    figure.add_vline(x=threshold, line=dict(color="#1f2d33", dash="dash"), annotation_text=f"{threshold:.3f}")
    figure.update_xaxes(title="Threshold (probability of pneumonia)", range=[0, 1])
    figure.update_yaxes(title="Value", range=[0, 1.02])
    return figure.update_layout(title="Metrics against threshold", height=420, legend=dict(orientation="h", y=-0.2), **_LAYOUT)


def training_history_figure(history: Sequence[EpochRecord]) -> go.Figure:
    """Losses and validation AUC per epoch, stages shaded apart; one set of lines per seed-ensemble member."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Validation AUC"))
    members = sorted({h.member or 0 for h in history})
    for member in members:
        records = [h for h in history if (h.member or 0) == member]
        epochs = [h.epoch for h in records]
        for key, label, colour, column in (("train_loss", "train loss", "#2b6777", 1), ("val_loss", "validation loss", "#c26d3a", 1),
                                           ("val_auc", "validation AUC", "#6c5b7b", 2)):
            figure.add_trace(go.Scatter(x=epochs, y=[getattr(h, key) for h in records], name=label, legendgroup=label,
                                        showlegend=member == members[0], line=dict(color=colour, width=2 if len(members) == 1 else 1)),
                             1, column)
    for previous, current in zip(history, history[1:]):
        if current.stage != previous.stage and current.member == previous.member:
            figure.add_vline(x=current.epoch - 0.5, line=dict(color="#9aa5ab", dash="dot"))
    figure.update_xaxes(title="Epoch")
    return figure.update_layout(height=300, legend=dict(orientation="h", y=-0.3), **_LAYOUT)


def class_counts_figure(class_counts: Mapping[str, ClassCounts]) -> go.Figure:
    """Normal and pneumonia images per split."""
    splits = list(class_counts)
    figure = go.Figure()
    for key, colour in (("normal", "#2b6777"), ("pneumonia", "#c26d3a")):
        values = [getattr(class_counts[split], key) for split in splits]
        figure.add_trace(go.Bar(x=splits, y=values, name=key.capitalize(), marker_color=colour, text=values, textposition="outside"))
    figure.update_yaxes(title="Images")
    return figure.update_layout(barmode="group", height=320, **_LAYOUT)


@dataclass(frozen=True)
class ReliabilityCurve:
    name: str
    reliability: Reliability
    colour: str


def reliability_figure(curves: Sequence[ReliabilityCurve], title: str) -> go.Figure:
    """Observed pneumonia share against mean predicted probability per bin (marker area ~ cases), with bin counts below."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04)
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#9aa5ab"), name="perfectly calibrated",
                                hoverinfo="skip"), 1, 1)
    for curve in curves:
        r = curve.reliability
        filled = r.counts > 0
        centres = (r.edges[:-1] + r.edges[1:]) / 2
        figure.add_trace(go.Scatter(
            x=r.mean_predicted[filled], y=r.observed[filled], mode="lines+markers", name=f"{curve.name} (ECE {r.ece:.3f})",
            line=dict(color=curve.colour, width=2), marker=dict(size=6 + 18 * np.sqrt(r.counts[filled] / r.counts.max()), color=curve.colour),
            customdata=r.counts[filled], hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} cases<extra></extra>"), 1, 1)
        figure.add_trace(go.Bar(x=centres, y=r.counts, width=0.09 / len(curves), marker_color=curve.colour, showlegend=False,
                                hovertemplate="%{y} cases<extra></extra>"), 2, 1)
    figure.update_xaxes(range=[0, 1], row=1, col=1)
    figure.update_xaxes(title="Predicted probability of pneumonia", range=[0, 1], row=2, col=1)
    figure.update_yaxes(title="Observed share with pneumonia", range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title="Cases", type="log", dtick=1, row=2, col=1)
    return figure.update_layout(title=title, height=520, barmode="group", legend=dict(x=0.02, y=0.98), **_LAYOUT)


@dataclass(frozen=True)
class DecisionCurve:
    name: str
    net_benefit: np.ndarray  # at the figure's thresholds
    colour: str
    marker: tuple[float, float] | None = None  # (threshold probability, net benefit) at the model's current threshold


def decision_curve_figure(thresholds: np.ndarray, curves: Sequence[DecisionCurve], treat_all: np.ndarray, prevalence: float) -> go.Figure:
    """Net benefit against threshold probability: each model, treat everyone, treat no one (Vickers & Elkin 2006)."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=thresholds, y=treat_all, mode="lines", name="Treat every child", line=dict(color="#9aa5ab", width=2)))
    figure.add_trace(go.Scatter(x=thresholds, y=np.zeros_like(thresholds), mode="lines", name="Treat no child",
                                line=dict(color="#1f2d33", width=1.5, dash="dash")))
    for curve in curves:
        figure.add_trace(go.Scatter(x=thresholds, y=curve.net_benefit, mode="lines", name=curve.name, line=dict(color=curve.colour, width=2.5)))
        if curve.marker is not None:
            figure.add_trace(go.Scatter(
                x=[curve.marker[0]], y=[curve.marker[1]], mode="markers", name=f"{curve.name} at its threshold",
                marker=dict(size=13, color=curve.colour, line=dict(width=2, color="white")),
                hovertemplate="threshold probability %{x:.3f}<br>net benefit %{y:.3f}<extra></extra>"))
    figure.update_xaxes(title="Threshold probability (the risk at which you would treat)", range=[0, 1])
    figure.update_yaxes(title="Net benefit",
                        range=[-0.05, max(prevalence, 0.05) * 1.1])
    return figure.update_layout(title="Decision curve", height=460, legend=dict(orientation="h", y=-0.25), **_LAYOUT)
