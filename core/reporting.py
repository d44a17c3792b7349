"""Words and tables for the dashboard: errors in a clinician's terms, metric tables, model comparisons."""

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.calibration import BINS
from core.cards import Card
from core.metrics import is_positive
from core.registry import spec

CLASS_NAMES = ("Normal", "Pneumonia")
DISCLAIMER = ("Research demonstration on a public dataset (PneumoniaMNIST: children aged 1–5, one centre, 28×28 pixels). "
              "Not a medical device; not for diagnosis or treatment decisions.")
RATE_LABELS = {
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision (PPV)",
    "npv": "NPV",
    "accuracy": "Accuracy",
    "f1": "F1 score",
}
GLOSSARY = {
    "AUC": "Area under the ROC curve: the chance that a random child with pneumonia scores higher than a random healthy "
           "child. 0.5 is a coin toss, 1 a perfect ranking. It does not depend on the threshold.",
    "Sensitivity": "Of the children with pneumonia, the share the model flags.",
    "Specificity": "Of the healthy children, the share the model clears.",
    "PPV": "Positive predictive value: of the children flagged, the share who have pneumonia. Depends on prevalence.",
    "NPV": "Negative predictive value: of the children cleared, the share who are healthy. Depends on prevalence.",
    "ECE": "Expected calibration error: the average gap between the predicted probability and the observed share with "
           f"pneumonia, over {BINS} equal-width probability bins weighted by their cases. 0 is perfectly calibrated.",
    "Brier": "Brier score: the mean squared difference between the predicted probability and what happened (0 or 1). "
             "Lower is better; it rewards both ranking and calibration.",
    "Net benefit": "True positives per child minus false positives per child weighted by the odds of the threshold "
                   "probability: how much better (or worse) than treating no one, in units of correctly treated children.",
    "Threshold probability": "The risk of pneumonia at which you would treat: choosing 20% says a missed pneumonia is "
                             "4 times as bad as an unnecessary treatment (odds 20:80).",
    "Calibrated probability": "The model's score mapped through a recalibration fitted on validation, so that among "
                              "children given 0.8, about 80% have pneumonia (in a population like validation's).",
}
OUTCOMES = ("TP", "FP", "FN", "TN")
OUTCOME_LABELS = {"TP": "Pneumonia, flagged (TP)", "FP": "Healthy, flagged (FP)", "FN": "Pneumonia, missed (FN)", "TN": "Healthy, cleared (TN)"}


def _cases(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def error_sentence(counts: Mapping[str, int], subject: str = "The model") -> str:
    """The two kinds of error as a clinician would say them."""
    pneumonia, healthy = counts["fn"] + counts["tp"], counts["tn"] + counts["fp"]
    return (f"{subject} misses {counts['fn']} of {_cases(pneumonia, 'pneumonia case')} and "
            f"flags {counts['fp']} of {healthy} healthy {'child' if healthy == 1 else 'children'}.")


def percent(value: float) -> str:
    """One decimal, without rounding a near-certainty to certainty: 0.99996 is "> 99.9%", not "100.0%"."""
    if value is None or np.isnan(value):
        return "—"
    if 0.999 < value < 1:
        return "> 99.9%"
    if 0 < value < 0.001:
        return "< 0.1%"
    return f"{100 * value:.1f}%"


def _interval_text(low: float, high: float, as_percent: bool = True) -> str:
    if np.isnan(low):
        return "—"
    return f"{percent(low)} – {percent(high)}" if as_percent else f"{low:.3f} – {high:.3f}"


def metrics_table(point: Mapping[str, float], intervals: Mapping[str, tuple[float, float]], auc: float,
                  auc_interval: tuple[float, float]) -> pd.DataFrame:
    """AUC and every rate at one threshold, with bootstrap 95% intervals, formatted for reading."""
    rows = [("AUC (all thresholds)", f"{auc:.3f}", _interval_text(*auc_interval, as_percent=False))]
    rows += [(label, percent(point[name]), _interval_text(*intervals[name])) for name, label in RATE_LABELS.items()]
    return pd.DataFrame(rows, columns=["Metric", "Value", "95% CI (bootstrap)"])


def outcomes(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """TP/FP/FN/TN for each case at threshold."""
    called = is_positive(scores, threshold)
    positive = np.asarray(labels).astype(bool)
    return np.select([called & positive, called & ~positive, ~called & positive], ["TP", "FP", "FN"], "TN")


def decision(probability: float, threshold: float) -> str:
    return CLASS_NAMES[int(is_positive(probability, threshold))]


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table (for the generated tables in README.md and benchmarks/experiments.md)."""
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def kept_epochs(card: Card) -> str:
    """The epoch whose weights were kept, or each seed-ensemble member's."""
    return ", ".join(map(str, card.training.member_best_epochs or [card.training.best_epoch]))


def initialisation_text(card: Card) -> str:
    init = card.initialisation
    return f"ImageNet ({init.source})" if init.imagenet else "random (trained from scratch)"


def model_overview_table(cards: Sequence[Card]) -> pd.DataFrame:
    """The models at a glance, one row per checkpoint card."""
    rows = []
    for card in cards:
        test = card.metrics.test
        rows.append({
            "Model": spec(card.name).display_name,
            "Trainable parameters": f"{card.trainable_parameters:,}",
            "Size on disk": f"{card.file_size_bytes / 1e6:.1f} MB",
            "Input": card.input,
            "Initialisation": initialisation_text(card),
            "Trained on": card.training.device,
            "Training time": duration(card.training.epoch_seconds_total),
            "Test AUC (95% CI)": f"{test.auc:.3f} ({test.auc_ci95[0]:.3f} – {test.auc_ci95[1]:.3f})",
            "Opening threshold (chosen on validation)": f"{card.opening_threshold:.3f}",
        })
    return pd.DataFrame(rows)


# (label, key in the per-model row, True when higher is better); None: not ranked
_COMPARED = [
    ("Trainable parameters", "parameters", False), ("Size on disk (MB)", "size_mb", False), ("Input", "input", None),
    ("Initialisation", "initialisation", None), ("Training device", "device", None), ("Training time", "seconds", False),
    ("Threshold", "threshold", None), ("AUC", "auc", True), ("Accuracy", "accuracy", True),
    ("Balanced accuracy", "balanced_accuracy", True), ("Sensitivity", "sensitivity", True), ("Specificity", "specificity", True),
    ("Precision (PPV)", "precision", True), ("NPV", "npv", True), ("F1 score", "f1", True),
    ("False negatives (missed pneumonia)", "fn", False), ("False positives (healthy flagged)", "fp", False),
]


def comparison_table(cards: Sequence[Card], points: Sequence[Mapping], aucs: Sequence[float], thresholds: Sequence[float]) -> pd.DataFrame:
    """The report's Table 9: one column per model at its threshold, and which is better where it can be ranked."""
    rows = []
    for card, point, auc, threshold in zip(cards, points, aucs, thresholds):
        rows.append(point | {
            "parameters": card.trainable_parameters, "size_mb": card.file_size_bytes / 1e6, "input": card.input,
            "initialisation": initialisation_text(card), "device": card.training.device,
            "seconds": card.training.epoch_seconds_total, "threshold": threshold, "auc": auc,
        })
    names = [spec(card.name).display_name for card in cards]
    table = []
    for label, key, higher_is_better in _COMPARED:
        values = [row[key] for row in rows]
        better = ""
        ranked = [v for v in values if higher_is_better is not None and not (isinstance(v, float) and np.isnan(v))]
        if len(ranked) == len(values) and len(set(values)) > 1:  # every model has a value, and they differ
            best = max(values) if higher_is_better else min(values)
            better = names[values.index(best)]
        table.append({"Aspect": label} | {name: _format(key, value) for name, value in zip(names, values)} | {"Better": better})
    return pd.DataFrame(table)


def _format(key: str, value) -> str:
    if key in RATE_LABELS:
        return percent(value)
    if key in ("auc", "threshold"):
        return f"{value:.3f}"
    if key == "parameters":
        return f"{value:,}"
    if key == "size_mb":
        return f"{value:.1f}"
    if key == "seconds":
        return duration(value)
    return str(value)


def difference_table(differences: Mapping[str, Mapping], first: str, second: str) -> pd.DataFrame:
    """Paired-bootstrap differences (first − second) and whether each is larger than its 95% interval allows by chance."""
    rows = []
    for name, label in [("auc", "AUC")] + [(k, RATE_LABELS[k]) for k in ("sensitivity", "specificity", "balanced_accuracy")]:
        d = differences[name]
        as_percent = name != "auc"
        show = (lambda v: f"{100 * v:+.1f} pts") if as_percent else (lambda v: f"{v:+.3f}")
        rows.append({
            "Metric": label,
            f"{first} − {second}": show(d["difference"]),
            "95% CI": f"{show(d['low'])} to {show(d['high'])}",
            "Beyond chance?": "yes" if d["excludes_zero"] else "no",
        })
    return pd.DataFrame(rows)
