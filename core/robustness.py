"""Does a model hold up? Its logits on every perturbation of the suite (core.perturbations), and its metrics at
one threshold under each, with stratified bootstrap intervals over the same resampled cases as everywhere else.

The logits need torch (perturbed_logits); everything after them is numpy, so the app computes its table from
the committed perturbed predictions without a model.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from core.metrics import Resamples, interval, metrics_at, roc_auc
from core.perturbations import SUITE, Perturbation, apply_suite

METRICS = ("sensitivity", "specificity", "balanced_accuracy")


def perturbed_logits(model, images: np.ndarray, perturbations: tuple[Perturbation, ...] = SUITE) -> dict[str, np.ndarray]:
    """fp32 logits (as float64) of every (28, 28) uint8 image under each perturbation: name -> (N,)."""
    from core.inference import predict_logits  # torch only here

    return {name: predict_logits(model, batch).numpy().astype(np.float64) for name, batch in apply_suite(images, perturbations).items()}


@dataclass(frozen=True)
class Row:
    """One perturbation's point estimates and 95% intervals at one threshold."""

    perturbation: str
    auc: float
    auc_ci95: tuple[float, float]
    values: dict[str, float]  # METRICS at the threshold
    ci95: dict[str, tuple[float, float]]


def robustness_rows(labels, probabilities: dict[str, np.ndarray], threshold: float, indices: np.ndarray,
                    auc_intervals: dict[str, tuple[float, float]] | None = None) -> list[Row]:
    """Metrics at threshold under each perturbation (name -> probabilities, same cases as labels), with intervals
    from the bootstrap resamples `indices`. AUC intervals do not depend on the threshold: pass them in when cached."""
    auc_intervals = auc_intervals or auc_intervals_of(labels, probabilities, indices)
    rows = []
    for name, scores in probabilities.items():
        point = metrics_at(labels, scores, threshold)
        resampled = Resamples.of(labels, scores, indices).intervals_at(threshold)
        rows.append(Row(name, roc_auc(labels, scores), auc_intervals[name], {m: point[m] for m in METRICS},
                        {m: resampled[m] for m in METRICS}))
    return rows


def auc_intervals_of(labels, probabilities: dict[str, np.ndarray], indices: np.ndarray) -> dict[str, tuple[float, float]]:
    return {name: interval(Resamples.of(labels, scores, indices).auc()) for name, scores in probabilities.items()}


def rows_frame(rows: list[Row]) -> pd.DataFrame:
    """One row per perturbation: AUC, each metric, and their interval ends (columns <metric>_low, <metric>_high)."""
    records = []
    for row in rows:
        record = {"perturbation": row.perturbation, "auc": row.auc, "auc_low": row.auc_ci95[0], "auc_high": row.auc_ci95[1]}
        for metric in METRICS:
            record |= {metric: row.values[metric], f"{metric}_low": row.ci95[metric][0], f"{metric}_high": row.ci95[metric][1]}
        records.append(record)
    return pd.DataFrame(records)


def weakest(rows: list[Row], metric: str = "balanced_accuracy") -> Row:
    """The perturbation with the lowest value of metric (the clean image included)."""
    return min(rows, key=lambda row: row.values[metric])


def probabilities_of(logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: expit(values) for name, values in logits.items()}


@dataclass(frozen=True)
class SuiteScore:
    """How a model holds up on one split under the whole suite: the model-selection score of benchmarks/experiments.md."""

    worst_balanced_accuracy: float  # at the given threshold, over every perturbation (clean included)
    weakest: str  # where that worst value is
    mean_balanced_accuracy: float
    mean_log_loss: float  # after one temperature fitted on the clean logits, averaged over the suite


def suite_score(labels, logits: dict[str, np.ndarray], threshold: float) -> SuiteScore:
    from core.calibration import fit_temperature, log_loss

    temperature = fit_temperature(labels, logits["clean"])
    balanced = {name: metrics_at(labels, expit(values), threshold)["balanced_accuracy"] for name, values in logits.items()}
    weakest_name = min(balanced, key=balanced.get)
    return SuiteScore(balanced[weakest_name], weakest_name, float(np.mean(list(balanced.values()))),
                      float(np.mean([log_loss(labels, temperature(values)) for values in logits.values()])))
