"""Is a probability worth its number? Reliability bins, expected calibration error, Brier score and log-loss, and
recalibration maps fitted on one split (validation): temperature scaling and Platt scaling. Torch-free."""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as _log_loss

BINS = 10


def log_loss(labels, probabilities) -> float:
    """Mean negative log-likelihood of the labels (natural log)."""
    return float(_log_loss(np.asarray(labels), np.asarray(probabilities, float), labels=[0, 1]))


def brier(labels, probabilities) -> float:
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
    which = np.clip(np.searchsorted(edges[1:-1], probabilities, side="left"), 0, bins - 1)
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

    def inverse(self, probability: float) -> float:
        """The raw probability that maps to this calibrated one (for thresholds, which live on the raw scale)."""
        return float(expit((logit(probability) - self.intercept) / self.slope))


def fit_temperature(labels, logits) -> Recalibration:
    """One temperature T minimising log-loss: p = sigmoid(logit / T). Keeps 0.5 at logit 0 and the ranking."""
    labels, logits = np.asarray(labels, float), np.asarray(logits, float)
    result = minimize_scalar(lambda log_t: log_loss(labels, expit(logits / np.exp(log_t))), bounds=(-4, 4), method="bounded")
    return Recalibration("temperature", float(1 / np.exp(result.x)), 0.0)


def fit_platt(labels, logits) -> Recalibration:
    """Slope and intercept on the logit by unpenalised logistic regression (Platt 1999)."""
    model = LogisticRegression(penalty=None).fit(np.asarray(logits, float).reshape(-1, 1), np.asarray(labels))
    return Recalibration("platt", float(model.coef_[0, 0]), float(model.intercept_[0]))


def temperature_scaled_log_loss(labels, logits) -> float:
    """Log-loss after a temperature fitted on the same cases: how well the scores separate, with the confidence
    scale (which class weighting and label smoothing change) taken out."""
    return log_loss(labels, fit_temperature(labels, logits)(logits))
