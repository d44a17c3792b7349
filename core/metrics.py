"""Binary-classification metrics, threshold sweeps, operating points and bootstrap intervals.

Convention everywhere: a case is called pneumonia when its probability is >= the threshold (as scikit-learn's
roc_curve). Every rate is nan where its denominator is zero.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

def _divide(numerator, denominator):
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def rates(tn, fp, fn, tp) -> dict[str, np.ndarray]:
    """Accuracy, precision, sensitivity, specificity, F1, balanced accuracy and NPV from confusion counts.

    Counts may be arrays (one entry per threshold or resample)."""
    sensitivity = _divide(tp, tp + fn)
    specificity = _divide(tn, tn + fp)
    precision = _divide(tp, tp + fp)
    return {
        "accuracy": _divide(np.add(tp, tn), np.add(tp, tn) + np.add(fp, fn)),
        "precision": precision,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "f1": _divide(2 * np.asarray(tp, float), 2 * np.asarray(tp, float) + np.add(fp, fn)),
        "balanced_accuracy": (sensitivity + specificity) / 2,
        "npv": _divide(tn, tn + fn),
    }


def is_positive(scores, threshold):
    """The decision rule, the only one: pneumonia when the probability is at least the threshold."""
    return np.asarray(scores) >= threshold


def _split_by_class(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels).astype(bool).ravel(), np.asarray(scores, float).ravel()
    return np.sort(scores[labels]), np.sort(scores[~labels])


def counts_at(labels, scores, thresholds) -> dict[str, np.ndarray]:
    """TN/FP/FN/TP at each threshold (scalar or array) in O(log n) each, by binary search on sorted scores."""
    positives, negatives = _split_by_class(labels, scores)
    thresholds = np.asarray(thresholds, float)
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    return {"tn": len(negatives) - fp, "fp": fp, "fn": len(positives) - tp, "tp": tp}


def metrics_at(labels, scores, threshold: float) -> dict[str, float]:
    """Counts and every metric at one threshold, as plain Python numbers."""
    counts = counts_at(labels, scores, threshold)
    values = {k: int(v) for k, v in counts.items()} | {k: float(v) for k, v in rates(**counts).items()}
    return values


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties, identical to roc_auc_score)."""
    labels = np.asarray(labels).astype(bool).ravel()
    return float(_auc_rows(np.asarray(scores, float).ravel()[None, :], labels)[0])


def _auc_rows(score_rows: np.ndarray, positive_mask: np.ndarray) -> np.ndarray:
    n_pos = positive_mask.sum()
    n_neg = positive_mask.size - n_pos
    ranks = rankdata(score_rows, axis=1)
    return (ranks[:, positive_mask].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def candidate_thresholds(scores) -> np.ndarray:
    """Ascending thresholds giving every distinct confusion matrix: 0, midpoints between distinct scores, above the max.

    Midpoints rather than the scores themselves, so a threshold chosen on one split does not sit on one of its cases.
    """
    distinct = np.unique(np.asarray(scores, float))
    above = max((distinct[-1] + 1) / 2, np.nextafter(distinct[-1], np.inf))
    return np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [above]])


@dataclass(frozen=True)
class Sweep:
    """Counts and metrics at every candidate threshold (ascending)."""

    thresholds: np.ndarray
    counts: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]

    def roc(self) -> tuple[np.ndarray, np.ndarray]:
        """False- and true-positive rates from (0, 0) to (1, 1)."""
        return (1 - self.metrics["specificity"])[::-1], self.metrics["sensitivity"][::-1]


def sweep(labels, scores) -> Sweep:
    thresholds = candidate_thresholds(scores)
    counts = counts_at(labels, scores, thresholds)
    return Sweep(thresholds, counts, rates(**counts))


def _best(mask: np.ndarray, objective: np.ndarray, sweep_: Sweep) -> float:
    """Threshold maximising the objective where mask holds; ties go to the higher sensitivity (lower threshold)."""
    if not mask.any():
        raise ValueError("no threshold satisfies the constraint")
    candidates = np.flatnonzero(mask)
    order = np.lexsort((-sweep_.thresholds[candidates], objective[candidates]))
    return float(sweep_.thresholds[candidates[order[-1]]])


def threshold_for_sensitivity(labels, scores, target: float) -> float:
    """The highest threshold (so the best specificity) whose sensitivity is at least target."""
    s = sweep(labels, scores)
    return _best(s.metrics["sensitivity"] >= target, s.thresholds, s)


def operating_points(labels, scores, min_sensitivity: float = 0.95, sensitivity_targets=(0.95, 0.99)) -> dict[str, float]:
    """Thresholds chosen on one split (validation): 0.5, the report's rule, Youden's J and each target sensitivity.

    Report's rule: maximise balanced accuracy subject to sensitivity >= min_sensitivity.
    """
    s = sweep(labels, scores)
    sensitivity, balanced = s.metrics["sensitivity"], s.metrics["balanced_accuracy"]
    points = {
        "default": 0.5,
        "report_rule": _best(sensitivity >= min_sensitivity, balanced, s),
        "youden": _best(np.isfinite(balanced), balanced, s),  # J = sens + spec - 1 ranks as balanced accuracy
    }
    for target in sensitivity_targets:
        points[f"sensitivity_{round(target * 100)}"] = threshold_for_sensitivity(labels, scores, target)
    return points


def stratified_bootstrap_indices(labels, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) indices resampling positives and negatives separately, so class counts stay fixed."""
    labels = np.asarray(labels).astype(bool).ravel()
    rng = np.random.default_rng(seed)
    columns = []
    for members in (np.flatnonzero(labels), np.flatnonzero(~labels)):
        columns.append(members[rng.integers(0, len(members), size=(n_resamples, len(members)))])
    return np.concatenate(columns, axis=1)


@dataclass(frozen=True)
class Resamples:
    """Bootstrap resamples of one split's scores, drawn once and evaluated at any threshold."""

    scores: np.ndarray  # (n_resamples, n)
    labels: np.ndarray  # (n,) bool: stratified, so every row has the same label layout

    @classmethod
    def of(cls, labels, scores, indices: np.ndarray) -> "Resamples":
        labels = np.asarray(labels).astype(bool).ravel()
        return cls(np.asarray(scores, float).ravel()[indices], labels[indices[0]])

    def auc(self) -> np.ndarray:
        return _auc_rows(self.scores, self.labels)

    def metrics_at(self, threshold: float) -> dict[str, np.ndarray]:
        predicted = is_positive(self.scores, threshold)
        tp = (predicted & self.labels).sum(axis=1)
        fp = (predicted & ~self.labels).sum(axis=1)
        n_pos = self.labels.sum()
        return rates(tn=(len(self.labels) - n_pos) - fp, fp=fp, fn=n_pos - tp, tp=tp)

    def intervals_at(self, threshold: float, level: float = 0.95) -> dict[str, tuple[float, float]]:
        return {name: interval(values, level) for name, values in self.metrics_at(threshold).items()}


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (nan where every sample is undefined)."""
    if np.isnan(samples).all():  # e.g. precision when no resample calls anything positive
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap_differences(labels, scores_a, scores_b, threshold_a: float, threshold_b: float,
                                 n_resamples: int, seed: int, level: float = 0.95) -> dict[str, dict]:
    """Model A minus model B on the same resampled cases: {metric: {difference, low, high, excludes_zero}}."""
    indices = stratified_bootstrap_indices(labels, n_resamples, seed)
    a, b = Resamples.of(labels, scores_a, indices), Resamples.of(labels, scores_b, indices)
    samples = {"auc": a.auc() - b.auc()}
    at_a, at_b = a.metrics_at(threshold_a), b.metrics_at(threshold_b)
    samples |= {name: at_a[name] - at_b[name] for name in at_a}
    point_a = {"auc": roc_auc(labels, scores_a)} | metrics_at(labels, scores_a, threshold_a)
    point_b = {"auc": roc_auc(labels, scores_b)} | metrics_at(labels, scores_b, threshold_b)
    result = {}
    for name, values in samples.items():
        low, high = interval(values, level)
        result[name] = {"difference": point_a[name] - point_b[name], "low": low, "high": high,
                        "excludes_zero": bool(low > 0 or high < 0)}
    return result


def wilson_interval(successes, trials, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927): stays inside [0, 1] and honest at 0 or n successes,
    where the normal approximation collapses. (nan, nan) for no trials."""
    from scipy.stats import norm

    if trials == 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(1 - (1 - level) / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def cases_for_precision(proportion: float, half_width: float, level: float = 0.95) -> int:
    """Cases of the relevant class needed to estimate a sensitivity or specificity near `proportion` to within
    ±half_width (Buderer 1996: z² p(1 − p) / d², rounded up)."""
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - level) / 2))
    return int(np.ceil(z * z * proportion * (1 - proportion) / half_width ** 2 - 1e-9))


def predictive_values(sensitivity, specificity, prevalence) -> tuple[float, float]:
    """PPV and NPV (Bayes) for a population with the given prevalence of pneumonia."""
    true_pos, false_pos = sensitivity * prevalence, (1 - specificity) * (1 - prevalence)
    true_neg, false_neg = specificity * (1 - prevalence), (1 - sensitivity) * prevalence
    return float(_divide(true_pos, true_pos + false_pos)), float(_divide(true_neg, true_neg + false_neg))


def net_benefit(labels, probabilities, thresholds) -> np.ndarray:
    """Net benefit of treating everyone whose probability is at least pt (Vickers & Elkin 2006), at each pt:
    true positives per case minus false positives per case weighted by the odds pt / (1 - pt)."""
    thresholds = np.asarray(thresholds, float)
    counts = counts_at(labels, probabilities, thresholds)
    n = len(np.asarray(labels))
    return counts["tp"] / n - counts["fp"] / n * thresholds / (1 - thresholds)


def treat_all_net_benefit(prevalence: float, thresholds) -> np.ndarray:
    """Net benefit of treating every child, whatever the model says."""
    thresholds = np.asarray(thresholds, float)
    return prevalence - (1 - prevalence) * thresholds / (1 - thresholds)
