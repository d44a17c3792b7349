"""From a model to predictions, from predictions to the card's thresholds and metrics, and back again to check."""

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.data import Dataset
from core.metrics import Resamples, interval, metrics_at, operating_points, roc_auc, stratified_bootstrap_indices
from core.training import predict_logits

OPERATING_POINT_LABELS = {
    "default": "0.5 (default)",
    "report_rule": "Report's rule",
    "youden": "Youden's J",
    "sensitivity_95": "Sensitivity ≥ 95%",
    "sensitivity_99": "Sensitivity ≥ 99%",
}
OPERATING_POINT_HELP = {
    "default": "The conventional cut-off, not tuned.",
    "report_rule": "Best balanced accuracy among thresholds with sensitivity ≥ 95% on validation (the report's rule).",
    "youden": "Best sensitivity + specificity − 1 on validation.",
    "sensitivity_95": "The highest threshold that still finds 95% of validation pneumonia cases (best specificity there).",
    "sensitivity_99": "The highest threshold that still finds 99% of validation pneumonia cases.",
}
# The app opens here. On PneumoniaMNIST the validation split is almost separable (it comes from the same pool as
# training), so the report's rule is set by the one or two highest-scoring validation normals; a 95% sensitivity
# target is a quantile of 389 pneumonia scores and moves far less between splits.
CHOSEN_OPERATING_POINT = "sensitivity_95"
EVALUATED_SPLITS = ("val", "test")
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def predictions_frame(model: nn.Module, dataset: Dataset, device: torch.device) -> pd.DataFrame:
    """One row per validation and test image: split, index in the split, label, fp32 logit and probability."""
    frames = []
    for split in EVALUATED_SPLITS:
        data = dataset.splits[split]
        logits = predict_logits(model, data.images, device)
        frames.append(pd.DataFrame({
            "split": split,
            "index": np.arange(len(data)),
            "label": data.labels.numpy().astype(int),
            "logit": logits.numpy(),
            # float64 sigmoid of the fp32 logit keeps confident cases distinct instead of rounding them to 1.0
            "probability": torch.sigmoid(logits.double()).numpy(),
        }))
    return pd.concat(frames, ignore_index=True)


def split_arrays(predictions: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    rows = predictions[predictions["split"] == split]
    return rows["label"].to_numpy(), rows["probability"].to_numpy()


def bootstrap_resamples(labels, scores) -> Resamples:
    """The resamples every interval in the card and the app comes from (fixed count and seed)."""
    return Resamples.of(labels, scores, stratified_bootstrap_indices(labels, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED))


def summarise(predictions: pd.DataFrame) -> dict:
    """Thresholds chosen on validation, then AUC and every metric (with bootstrap 95% CIs) at each, per split."""
    thresholds = operating_points(*split_arrays(predictions, "val"))
    summary = {"thresholds": thresholds, "chosen_operating_point": CHOSEN_OPERATING_POINT}
    for split in EVALUATED_SPLITS:
        labels, scores = split_arrays(predictions, split)
        resamples = bootstrap_resamples(labels, scores)
        summary[split] = {
            "n": int(len(labels)),
            "auc": roc_auc(labels, scores),
            "auc_ci95": interval(resamples.auc()),
            "operating_points": {name: metrics_at(labels, scores, threshold) | {"ci95": resamples.intervals_at(threshold)}
                                 for name, threshold in thresholds.items()},
        }
    return summary


def compare_with_committed(recomputed: pd.DataFrame, committed: pd.DataFrame, card: dict, atol: float = 1e-5) -> list[str]:
    """Differences between freshly computed predictions/metrics and a checkpoint's committed ones (empty: match)."""
    problems = []
    if len(recomputed) != len(committed) or not (recomputed[["split", "index", "label"]].values == committed[["split", "index", "label"]].values).all():
        return ["cases or labels differ from the committed predictions.csv"]
    worst = float(np.abs(recomputed["probability"] - committed["probability"]).max())
    if worst > atol:
        problems.append(f"probabilities differ by up to {worst:.2e} (tolerance {atol:.0e})")
    summary = summarise(recomputed)
    for split in EVALUATED_SPLITS:
        if abs(summary[split]["auc"] - card["metrics"][split]["auc"]) > atol:
            problems.append(f"{split} AUC {summary[split]['auc']:.6f} vs card {card['metrics'][split]['auc']:.6f}")
        for name, point in summary[split]["operating_points"].items():
            stored = card["metrics"][split]["operating_points"][name]
            for count in ("tn", "fp", "fn", "tp"):
                if point[count] != stored[count]:
                    problems.append(f"{split} {name}: {count} {point[count]} vs card {stored[count]}")
    for name, threshold in summary["thresholds"].items():
        if abs(threshold - card["metrics"]["thresholds"][name]) > atol:
            problems.append(f"threshold {name} {threshold:.6f} vs card {card['metrics']['thresholds'][name]:.6f}")
    return problems
