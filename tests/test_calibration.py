"""Calibration and decision-curve arithmetic, cross-checked against scikit-learn and against the definitions."""

import numpy as np
import pytest
from scipy.special import expit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

from core.calibration import (
    bootstrap_intervals, brier, compare_methods, cross_validated, expected_calibration_error, fit_platt, fit_temperature, prior_shift,
    reliability,
)
from core.metrics import net_benefit, stratified_bootstrap_indices, treat_all_net_benefit


@pytest.fixture
def cases():
    rng = np.random.default_rng(3)
    labels = (rng.random(500) < 0.65).astype(int)
    logits = rng.normal(2.5 * (labels - 0.4), 1.5)
    return labels, logits, expit(logits)


def test_reliability_bins_are_scikit_learns_calibration_curve(cases):
    labels, _, probabilities = cases
    ours = reliability(labels, probabilities)
    observed, predicted = calibration_curve(labels, probabilities, n_bins=10, strategy="uniform")
    filled = ours.counts > 0
    assert np.allclose(ours.observed[filled], observed) and np.allclose(ours.mean_predicted[filled], predicted)
    assert ours.counts.sum() == len(labels)


def test_ece_is_the_case_weighted_gap_and_brier_and_log_loss_are_scikit_learns(cases):
    labels, _, probabilities = cases
    edges = np.linspace(0, 1, 11)
    expected = 0.0
    for low, high in zip(edges[:-1], edges[1:]):  # brute force, bin by bin
        members = ((probabilities > low) | (low == 0)) & (probabilities <= high)
        if members.any():
            expected += members.sum() / len(labels) * abs(probabilities[members].mean() - labels[members].mean())
    assert expected_calibration_error(labels, probabilities) == pytest.approx(expected)
    assert brier(labels, probabilities) == pytest.approx(brier_score_loss(labels, probabilities))


def test_temperature_minimises_log_loss_and_keeps_the_ranking(cases):
    labels, logits, _ = cases
    fitted = fit_temperature(labels, logits)
    grid = np.exp(np.linspace(-2, 2, 801))
    best = grid[np.argmin([log_loss(labels, expit(logits * g)) for g in grid])]
    assert fitted.slope == pytest.approx(best, rel=0.01) and fitted.intercept == 0
    assert np.array_equal(np.argsort(fitted(logits)), np.argsort(logits))
    assert fitted.from_probability(expit(0.7)) == pytest.approx(fitted(np.array([0.7]))[0])


def test_platt_is_unpenalised_logistic_regression_on_the_logit(cases):
    labels, logits, _ = cases
    fitted = fit_platt(labels, logits)
    gradient = np.array([np.mean((fitted(logits) - labels) * logits), np.mean(fitted(logits) - labels)])
    assert np.abs(gradient).max() < 1e-4  # the maximum-likelihood equations hold


def test_prior_shift_is_bayes_rule():
    assert np.allclose(prior_shift([0.2, 0.5, 0.9], 0.6, 0.6), [0.2, 0.5, 0.9])
    # 0.5 at prevalence 0.75 is a likelihood ratio of 1/3; at prevalence 0.5 the posterior is 1/(1+3) = 0.25
    assert prior_shift([0.5], 0.75, 0.5)[0] == pytest.approx(0.25)


def test_bootstrap_intervals_contain_the_point_estimates(cases):
    labels, _, probabilities = cases
    intervals = bootstrap_intervals(labels, probabilities, stratified_bootstrap_indices(labels, 300, 0))
    assert intervals["brier"][0] <= brier(labels, probabilities) <= intervals["brier"][1]
    assert intervals["ece"][0] < intervals["ece"][1]


def test_bootstrap_intervals_are_the_percentiles_of_each_resamples_ece_and_scikit_learns_brier(cases):
    labels, _, probabilities = cases
    indices = stratified_bootstrap_indices(labels, 200, 1)
    one_by_one = {"ece": [expected_calibration_error(labels[rows], probabilities[rows]) for rows in indices],
                  "brier": [brier_score_loss(labels[rows], probabilities[rows]) for rows in indices]}
    intervals = bootstrap_intervals(labels, probabilities, indices)
    for name, samples in one_by_one.items():
        assert intervals[name] == pytest.approx(tuple(np.percentile(samples, [2.5, 97.5])), abs=1e-12), name


def test_the_methods_compared_are_the_raw_scores_and_the_two_fits_scored_where_they_say(cases):
    labels, logits, probabilities = cases
    half = len(labels) // 2
    rows = {row.method: row for row in compare_methods(labels[:half], logits[:half], labels[half:], logits[half:])}
    assert rows["none"].validation_ece == pytest.approx(expected_calibration_error(labels[:half], probabilities[:half]))
    assert rows["none"].cross_validated_log_loss is None
    platt = fit_platt(labels[:half], logits[:half])
    assert rows["platt"].test_ece == pytest.approx(expected_calibration_error(labels[half:], platt(logits[half:])))
    assert rows["temperature"].cross_validated_log_loss == pytest.approx(cross_validated(labels[:half], logits[:half], fit_temperature)["log_loss"])


def test_net_benefit_follows_vickers_and_elkin(cases):
    labels, _, probabilities = cases
    thresholds = np.array([0.05, 0.2, 0.5, 0.8])
    for threshold, ours in zip(thresholds, net_benefit(labels, probabilities, thresholds)):
        treated = probabilities >= threshold
        tp, fp = np.sum(treated & (labels == 1)), np.sum(treated & (labels == 0))
        assert ours == pytest.approx(tp / len(labels) - fp / len(labels) * threshold / (1 - threshold))
    everyone = net_benefit(labels, np.ones(len(labels)), thresholds)
    assert np.allclose(everyone, treat_all_net_benefit(labels.mean(), thresholds))
    assert np.allclose(net_benefit(labels, np.zeros(len(labels)), thresholds), 0)
