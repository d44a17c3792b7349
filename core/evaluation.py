"""From predictions to the card's thresholds and metrics, and back again to check. Torch-free."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.calibration import Recalibration, fit_temperature
from core.cards import CalibrationRecord, Card, Metrics, SplitMetrics
from core.metrics import Resamples, Sweep, interval, metrics_at, operating_points, roc_auc, stratified_bootstrap_indices, sweep

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


def split_arrays(predictions: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    rows = predictions[predictions["split"] == split]
    return rows["label"].to_numpy(), rows["probability"].to_numpy()


def bootstrap_indices(labels) -> np.ndarray:
    """The resampled cases every interval in the cards and the app comes from (fixed count and seed)."""
    return stratified_bootstrap_indices(labels, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)


def bootstrap_resamples(labels, scores) -> Resamples:
    return Resamples.of(labels, scores, bootstrap_indices(labels))


def split_metrics(labels, scores, thresholds: dict[str, float]) -> SplitMetrics:
    """AUC and every metric at each threshold, with bootstrap 95% CIs, on one split."""
    resamples = bootstrap_resamples(labels, scores)
    return SplitMetrics(
        n=int(len(labels)), auc=roc_auc(labels, scores), auc_ci95=interval(resamples.auc()),
        operating_points={name: metrics_at(labels, scores, threshold) | {"ci95": resamples.intervals_at(threshold)}
                          for name, threshold in thresholds.items()},
    )


def summarise(predictions: pd.DataFrame) -> Metrics:
    """Thresholds chosen on validation, then metrics at each on validation and (when predicted) test."""
    thresholds = operating_points(*split_arrays(predictions, "val"))
    test = split_metrics(*split_arrays(predictions, "test"), thresholds) if (predictions["split"] == "test").any() else None
    return Metrics(thresholds, CHOSEN_OPERATING_POINT, split_metrics(*split_arrays(predictions, "val"), thresholds), test)


CALIBRATION_WHY = ("Temperature scaling (Guo et al. 2017): one parameter, fitted on validation by log-loss, that corrects "
                   "how confident the scores are and nothing else. It keeps the ranking and the meaning of logit 0, and it "
                   "cannot take on validation's pneumonia share, which differs from test's; prevalence is handled apart, by "
                   "an explicit prior-shift adjustment to the population the model is used in. Platt scaling (slope and "
                   "intercept) fits validation far better, but validation shares children with training and is almost "
                   "separable, and what Platt learns there (more confidence, validation's prevalence) does not carry over: "
                   "its test calibration is worse than the raw scores'. We saw that while comparing the two, so this choice "
                   "is not blind to test; the Calibration page shows both, and the raw scores, side by side.")


def fit_recalibration(predictions: pd.DataFrame) -> CalibrationRecord:
    """The recalibration every shown probability goes through: temperature scaling fitted on validation logits."""
    val = predictions[predictions["split"] == "val"]
    fitted = fit_temperature(val["label"].to_numpy(), val["logit"].to_numpy())
    return CalibrationRecord("temperature", fitted.slope, fitted.intercept, "val", float(val["label"].mean()), CALIBRATION_WHY)


def recalibration(card: Card) -> Recalibration:
    return Recalibration(card.calibration.method, card.calibration.slope, card.calibration.intercept)


def calibrated_threshold(card: Card, threshold: float) -> float:
    """A threshold on the raw probability, on the calibrated scale; 0 and 1 (everyone, no one) stay put."""
    if threshold <= 0 or threshold >= 1:
        return float(threshold)
    return float(recalibration(card).from_probability(threshold))


def preset_groups(card: Card) -> dict[float, list[str]]:
    """The operating points chosen on validation, those that land on the same threshold together."""
    groups: dict[float, list[str]] = {}
    for point, value in card.metrics.thresholds.items():
        groups.setdefault(value, []).append(point)
    return groups


def read_only(array) -> np.ndarray:
    """A copy no one can write to: for arrays shared by every session."""
    array = np.array(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class SplitView:
    """One model's committed predictions on one split, with everything a threshold move needs precomputed; read-only."""

    labels: np.ndarray
    scores: np.ndarray  # the model's probability (raw); thresholds live on this scale
    logits: np.ndarray
    calibrated: np.ndarray  # the same, through the card's recalibration
    sweep: Sweep
    auc: float
    auc_interval: tuple[float, float]
    resamples: Resamples
    indices: np.ndarray  # the bootstrap resamples' case indices (for intervals of other statistics)

    @classmethod
    def of(cls, predictions: pd.DataFrame, card: Card, split: str) -> "SplitView":
        rows = predictions[predictions["split"] == split]
        labels, scores, logits = (read_only(rows[column].to_numpy()) for column in ("label", "probability", "logit"))
        indices = read_only(bootstrap_indices(labels))
        resamples = Resamples.of(labels, scores, indices)
        resamples = Resamples(read_only(resamples.scores), read_only(resamples.labels))
        swept = sweep(labels, scores)
        swept = Sweep(read_only(swept.thresholds), {k: read_only(v) for k, v in swept.counts.items()},
                      {k: read_only(v) for k, v in swept.metrics.items()})
        return cls(labels, scores, logits, read_only(recalibration(card)(logits)), swept, roc_auc(labels, scores),
                   interval(resamples.auc()), resamples, indices)


def compare_with_committed(recomputed: pd.DataFrame, committed: pd.DataFrame, card: Card, atol: float = 1e-5) -> list[str]:
    """Differences between freshly computed predictions/metrics and a checkpoint's committed ones (empty: match).

    Compares the cases recomputed; when those are all the committed ones, also the card's AUCs, counts and thresholds.
    """
    keys = ["split", "index"]
    merged = recomputed.merge(committed, on=keys, how="left", suffixes=("", "_committed"), validate="one_to_one")
    if merged["label_committed"].isna().any() or (merged["label"] != merged["label_committed"]).any():
        return ["cases or labels differ from the committed predictions.csv"]
    worst = float(np.abs(merged["probability"] - merged["probability_committed"]).max())
    problems = [f"probabilities differ by up to {worst:.2e} (tolerance {atol:.0e})"] if worst > atol else []
    if len(recomputed) < len(committed):
        return problems
    summary = summarise(recomputed)
    for split in EVALUATED_SPLITS:
        ours, stored = getattr(summary, split), getattr(card.metrics, split)
        if ours is None or stored is None:  # a blind run: no test predictions on either side
            continue
        if abs(ours.auc - stored.auc) > atol:
            problems.append(f"{split} AUC {ours.auc:.6f} vs card {stored.auc:.6f}")
        for name, point in ours.operating_points.items():
            for count in ("tn", "fp", "fn", "tp"):
                if point[count] != stored.operating_points[name][count]:
                    problems.append(f"{split} {name}: {count} {point[count]} vs card {stored.operating_points[name][count]}")
    for name, threshold in summary.thresholds.items():
        if abs(threshold - card.metrics.thresholds[name]) > atol:
            problems.append(f"threshold {name} {threshold:.6f} vs card {card.metrics.thresholds[name]:.6f}")
    return problems
