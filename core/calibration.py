"""Is a probability worth its number? Reliability bins, expected calibration error, Brier score and log-loss, and
recalibration maps fitted on one split (validation): temperature scaling and Platt scaling. Torch-free; the
scikit-learn and scipy.optimize imports wait until a fit or a loss needs them (the app's first page does not).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

BINS = 10
FOLDS = 5  # cross-validation of a recalibration within one split


def log_loss(labels, probabilities) -> float:
    """Mean negative log-likelihood of the labels (natural log)."""
    from sklearn.metrics import log_loss as _log_loss

    return float(_log_loss(np.asarray(labels), np.asarray(probabilities, float), labels=[0, 1]))


def brier(labels, probabilities) -> float:
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(np.asarray(labels), np.asarray(probabilities, float)))


@dataclass(frozen=True)
class Reliability:
    """Equal-width probability bins: cases, mean predicted probability and observed pneumonia share in each."""

    edges: np.ndarray  # (bins + 1,)
    counts: np.ndarray  # (bins,)
    mean_predicted: np.ndarray  # nan where a bin is empty
    observed: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the case-weighted mean gap between predicted and observed."""
        filled = self.counts > 0
        gaps = np.abs(self.mean_predicted[filled] - self.observed[filled])
        return float((gaps * self.counts[filled]).sum() / self.counts.sum())


def reliability(labels, probabilities, bins: int = BINS) -> Reliability:
    labels, probabilities = np.asarray(labels, float), np.asarray(probabilities, float)
    edges = np.linspace(0, 1, bins + 1)
    # bin i holds edges[i] < p <= edges[i+1] (p == 0 in the first), as sklearn's calibration_curve
    which = _bin_of(probabilities, bins)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.bincount(which, probabilities, bins) / counts
        observed = np.bincount(which, labels, bins) / counts
    return Reliability(edges, counts, mean_predicted, observed)


def expected_calibration_error(labels, probabilities, bins: int = BINS) -> float:
    return reliability(labels, probabilities, bins).ece


@dataclass(frozen=True)
class Recalibration:
    """p = sigmoid(slope * logit + intercept): Platt scaling, or temperature scaling when intercept is 0."""

    method: str  # "temperature" or "platt"
    slope: float
    intercept: float

    def __call__(self, logits) -> np.ndarray:
        return expit(self.slope * np.asarray(logits, float) + self.intercept)

    def from_probability(self, probability):
        """The recalibrated probability for a raw probability (sigmoid of the logit), for callers without the logit."""
        p = np.clip(np.asarray(probability, float), 1e-15, 1 - 1e-15)
        return self(np.log(p / (1 - p)))


def fit_temperature(labels, logits) -> Recalibration:
    """One temperature T minimising log-loss: p = sigmoid(logit / T). Keeps 0.5 at logit 0 and the ranking."""
    from scipy.optimize import minimize_scalar

    labels, logits = np.asarray(labels, float), np.asarray(logits, float)
    result = minimize_scalar(lambda log_t: log_loss(labels, expit(logits / np.exp(log_t))), bounds=(-4, 4), method="bounded")
    return Recalibration("temperature", float(1 / np.exp(result.x)), 0.0)


def fit_platt(labels, logits) -> Recalibration:
    """Slope and intercept on the logit by unpenalised logistic regression (Platt 1999)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf).fit(np.asarray(logits, float).reshape(-1, 1), np.asarray(labels))
    return Recalibration("platt", float(model.coef_[0, 0]), float(model.intercept_[0]))


def intercept_and_slope(labels, probabilities) -> tuple[float, float]:
    """Calibration-in-the-large and the calibration slope (Cox 1958; Van Calster et al. 2016): a in
    logit P(pneumonia) = a + logit(p) (0: right on average; above 0, too low), and b in a' + b·logit(p) (1: as confident
    as it should be; below 1, too confident). Needs both classes."""
    from scipy.optimize import brentq

    labels = np.asarray(labels, float)
    p = np.clip(np.asarray(probabilities, float), 1e-12, 1 - 1e-12)
    linear = np.log(p / (1 - p))
    # the intercept with the slope fixed at 1 makes the mean predicted probability equal the observed share
    in_the_large = brentq(lambda a: float(np.sum(labels - expit(a + linear))), -50, 50, xtol=1e-12)
    return float(in_the_large), fit_platt(labels, linear).slope


def cross_validated(labels, logits, fit, folds: int = FOLDS, seed: int = 0) -> dict[str, float]:
    """Log-loss and ECE of a recalibration fitted on k-1 folds of one split and scored on the held-out fold."""
    from sklearn.model_selection import StratifiedKFold

    labels, logits = np.asarray(labels), np.asarray(logits, float)
    losses, errors = [], []
    for fitted_on, held_out in StratifiedKFold(folds, shuffle=True, random_state=seed).split(logits, labels):
        recalibrated = fit(labels[fitted_on], logits[fitted_on])(logits[held_out])
        losses.append(log_loss(labels[held_out], recalibrated))
        errors.append(expected_calibration_error(labels[held_out], recalibrated))
    return {"log_loss": float(np.mean(losses)), "ece": float(np.mean(errors))}


def prior_shift(probabilities, from_prevalence: float, to_prevalence: float) -> np.ndarray:
    """Bayes' rule for a new prevalence: the odds scale by the ratio of the prior odds (Saerens et al. 2002)."""
    p = np.clip(np.asarray(probabilities, float), 1e-15, 1 - 1e-15)
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    odds = p / (1 - p) * ratio
    return odds / (1 + odds)


def temperature_scaled_log_loss(labels, logits) -> float:
    """Log-loss after a temperature fitted on the same cases: how well the scores separate, with the confidence
    scale (which class weighting and label smoothing change) taken out."""
    return log_loss(labels, fit_temperature(labels, logits)(logits))


def _bin_of(probabilities: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The reliability bin of each probability: edges[i] < p <= edges[i+1] (p == 0 in the first), as calibration_curve."""
    return np.clip(np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], probabilities, side="left"), 0, bins - 1)


def bootstrap_intervals(labels, probabilities, indices: np.ndarray, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile intervals of ECE and Brier score over bootstrap resamples (rows of case indices), all resamples at once."""
    labels, probabilities = np.asarray(labels, float), np.asarray(probabilities, float)
    resampled_labels, resampled = labels[indices], probabilities[indices]
    n_resamples, n = indices.shape
    # one bincount over (resample, bin) pairs gives every resample's bin counts and sums
    cells = (np.arange(n_resamples)[:, None] * BINS + _bin_of(resampled)).ravel()
    counts, predicted, observed = (np.bincount(cells, weights, n_resamples * BINS).reshape(n_resamples, BINS)
                                   for weights in (None, resampled.ravel(), resampled_labels.ravel()))
    ece = np.abs(predicted - observed).sum(axis=1) / n  # |mean gap| * count, summed over bins, over cases
    samples = {"ece": ece, "brier": np.mean((resampled - resampled_labels) ** 2, axis=1)}
    tail = (1 - level) / 2 * 100
    return {name: tuple(float(v) for v in np.percentile(values, [tail, 100 - tail])) for name, values in samples.items()}


@dataclass(frozen=True)
class MethodComparison:
    """One recalibration method fitted on validation logits, scored on validation (fitted there, and cross-validated) and test."""

    method: str  # "none", "temperature" or "platt"
    validation_ece: float
    cross_validated_log_loss: float | None  # None for the raw scores: nothing is fitted
    test_ece: float


def compare_methods(val_labels, val_logits, test_labels, test_logits) -> list[MethodComparison]:
    """The raw scores, temperature scaling and Platt scaling side by side (the Calibration page's "which and why")."""
    rows = [MethodComparison("none", expected_calibration_error(val_labels, expit(np.asarray(val_logits, float))), None,
                             expected_calibration_error(test_labels, expit(np.asarray(test_logits, float))))]
    for method, fit in (("temperature", fit_temperature), ("platt", fit_platt)):
        fitted = fit(val_labels, val_logits)
        rows.append(MethodComparison(method, expected_calibration_error(val_labels, fitted(val_logits)),
                                     cross_validated(val_labels, val_logits, fit)["log_loss"],
                                     expected_calibration_error(test_labels, fitted(test_logits))))
    return rows
