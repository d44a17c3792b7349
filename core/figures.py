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


def confusion_alt(counts: Mapping[str, int], threshold: float) -> str:
    """What a confusion matrix shows, in words (alternative text)."""
    return (f"Confusion matrix at threshold {threshold:.3f}: of {counts['tn'] + counts['fp']} healthy children {counts['tn']} "
            f"cleared and {counts['fp']} flagged; of {counts['fn'] + counts['tp']} with pneumonia {counts['tp']} flagged and "
            f"{counts['fn']} missed.")


def roc_alt(model: str, auc: float, point: Mapping[str, float]) -> str:
    """What an ROC curve with its operating point shows, in words (alternative text)."""
    return (f"ROC curve of {model}, AUC {auc:.3f}, with the current operating point at sensitivity {point['sensitivity']:.1%} "
            f"and specificity {point['specificity']:.1%}.")


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


@dataclass(frozen=True)
class RobustnessSeries:
    """One model's rows (core.robustness.Row, in suite order) at its threshold."""

    name: str
    colour: str
    rows: Sequence  # core.robustness.Row


ROBUSTNESS_PANELS = (("sensitivity", "Sensitivity", 0.95), ("specificity", "Specificity", 0.75), ("auc", "AUC", None))


def robustness_figure(series: Sequence[RobustnessSeries], labels: Mapping[str, str], title: str) -> go.Figure:
    """Sensitivity, specificity and AUC under each perturbation (rows, the clean image on top), one marker and 95%
    interval per model; the dashed lines are the targets (sensitivity 0.95, specificity 0.75)."""
    figure = make_subplots(rows=1, cols=len(ROBUSTNESS_PANELS), shared_yaxes=True, horizontal_spacing=0.03,
                           subplot_titles=[panel for _, panel, _ in ROBUSTNESS_PANELS])
    names = [row.perturbation for row in series[0].rows]
    spread = 0.6 / max(len(series), 1)
    for k, one in enumerate(series):
        y = -np.arange(len(names)) - (k - (len(series) - 1) / 2) * spread  # the first perturbation on top
        for column, (metric, _, _) in enumerate(ROBUSTNESS_PANELS, start=1):
            values = np.array([row.auc if metric == "auc" else row.values[metric] for row in one.rows])
            lows, highs = (np.array([(row.auc_ci95 if metric == "auc" else row.ci95[metric])[end] for row in one.rows]) for end in (0, 1))
            figure.add_trace(go.Scatter(
                x=values, y=y, mode="markers", name=one.name, legendgroup=one.name, showlegend=column == 1,
                marker=dict(color=one.colour, size=8), error_x=dict(type="data", symmetric=False, array=highs - values,
                                                                   arrayminus=values - lows, color=one.colour, thickness=1.5, width=0),
                customdata=np.stack([[labels[n] for n in names], lows, highs], axis=1),
                hovertemplate=f"{one.name}<br>%{{customdata[0]}}<br>%{{x:.3f}} (%{{customdata[1]:.3f}}–%{{customdata[2]:.3f}})<extra></extra>"),
                1, column)
    for column, (_, _, target) in enumerate(ROBUSTNESS_PANELS, start=1):
        if target is not None:
            figure.add_vline(x=target, line=dict(color="#9aa5ab", dash="dash"), row=1, col=column)
        figure.update_xaxes(range=[0, 1.02] if target is not None else None, row=1, col=column)
    figure.update_yaxes(tickvals=-np.arange(len(names)), ticktext=[labels[n] for n in names], row=1, col=1)
    figure.add_hrect(y0=-0.5, y1=0.5, fillcolor="#e8eff1", line_width=0, layer="below")  # the clean image's row
    return figure.update_layout(title=title, height=120 + 30 * len(names), legend=dict(orientation="h", y=-0.08), **_LAYOUT)


def randomisation_figure(depths: Sequence[str], curves: Mapping[str, Sequence[Mapping]], baseline: Mapping, colour: str,
                         title: str) -> go.Figure:
    """Similarity (Spearman |ρ|, 95% interval) of the heatmap to the trained model's as more of the network is
    re-initialised (cascading) or one part at a time (independent), against the random-pair baseline band."""
    figure = go.Figure()
    low, high = baseline["ci95"]
    figure.add_hrect(y0=low, y1=high, fillcolor="#e8eff1", line_width=0, layer="below")
    figure.add_hline(y=baseline["mean"], line=dict(color="#6b777d", dash="dash"),
                     annotation_text=f"two different children's maps: {baseline['mean']:.2f}", annotation_position="top left")
    for (mode, points), dash in zip(curves.items(), ("solid", "dot")):
        y = np.array([np.nan if p["abs_rho"] is None else p["abs_rho"] for p in points], float)
        lows = np.array([np.nan if p["abs_rho_ci95"][0] is None else p["abs_rho_ci95"][0] for p in points], float)
        highs = np.array([np.nan if p["abs_rho_ci95"][1] is None else p["abs_rho_ci95"][1] for p in points], float)
        blank = [f"{p['blank_share']:.0%}" for p in points]
        figure.add_trace(go.Scatter(
            x=list(depths), y=y, mode="lines+markers", name=mode, line=dict(color=colour, dash=dash, width=2.5),
            marker=dict(size=9, symbol=["circle" if p["passes"] else "x" for p in points]),
            error_y=dict(type="data", symmetric=False, array=highs - y, arrayminus=y - lows, color=colour, thickness=1.2, width=4),
            customdata=blank, hovertemplate="%{x}<br>|ρ| %{y:.2f}<br>blank maps %{customdata}<extra>" + mode + "</extra>"))
    figure.update_xaxes(title="Re-initialised, from the output layer down")
    figure.update_yaxes(title="Similarity to the trained map (|ρ|)", range=[0, 1.05])
    return figure.update_layout(title=title, height=400, legend=dict(orientation="h", y=-0.3), **_LAYOUT)


def road_figure(rows: Sequence[tuple[str, Mapping, str]], title: str) -> go.Figure:
    """ROAD score (mean with 95% interval) of each map: (label, {"mean", "ci95"}, colour) per row, first on top."""
    figure = go.Figure()
    for position, (label, value, colour) in enumerate(rows):
        low, high = value["ci95"]
        figure.add_trace(go.Scatter(
            x=[value["mean"]], y=[-position], mode="markers", name=label, showlegend=False, marker=dict(size=11, color=colour),
            error_x=dict(type="data", symmetric=False, array=[high - value["mean"]], arrayminus=[value["mean"] - low], color=colour,
                         thickness=1.5, width=0),
            hovertemplate=f"{label}<br>ROAD %{{x:.2f}} ({low:.2f} to {high:.2f})<extra></extra>"))
    figure.add_vline(x=0, line=dict(color="#9aa5ab", dash="dash"))
    figure.update_yaxes(tickvals=-np.arange(len(rows)), ticktext=[label for label, _, _ in rows])
    figure.update_xaxes(title="ROAD: logit lost removing the most relevant pixels minus the least relevant (higher: more faithful)")
    return figure.update_layout(title=title, height=110 + 42 * len(rows), **_LAYOUT)
