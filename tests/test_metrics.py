"""Every metric cross-checked against scikit-learn on data with ties, plus threshold-selection rules by brute force."""

import numpy as np
import pytest
from sklearn import metrics as sk

from core.metrics import (
    Resamples, candidate_thresholds, counts_at, interval, metrics_at, operating_points, paired_bootstrap_differences,
    rates, roc_auc, stratified_bootstrap_indices, sweep, threshold_for_sensitivity,
)


@pytest.fixture
def cases():
    rng = np.random.default_rng(1)
    labels = (rng.random(300) < 0.6).astype(int)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 2)  # rounding makes plenty of ties
    return labels, scores


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.35, 0.5, 0.73, 1.0])
def test_metrics_at_match_scikit_learn(cases, threshold):
    labels, scores = cases
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = sk.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    ours = metrics_at(labels, scores, threshold)
    assert (ours["tn"], ours["fp"], ours["fn"], ours["tp"]) == (tn, fp, fn, tp)
    expected = {
        "accuracy": sk.accuracy_score(labels, predicted),
        "precision": sk.precision_score(labels, predicted, zero_division=np.nan),
        "sensitivity": sk.recall_score(labels, predicted),
        "specificity": sk.recall_score(labels, predicted, pos_label=0),
        "f1": sk.f1_score(labels, predicted, zero_division=np.nan),
        "balanced_accuracy": sk.balanced_accuracy_score(labels, predicted),
        "npv": sk.precision_score(labels, predicted, pos_label=0, zero_division=np.nan),
    }
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, nan_ok=True), name


def test_undefined_rates_are_nan_not_zero():
    nothing_called_positive = rates(tn=5, fp=0, fn=3, tp=0)
    assert np.isnan(nothing_called_positive["precision"])
    assert nothing_called_positive["sensitivity"] == 0 and nothing_called_positive["f1"] == 0
    assert nothing_called_positive["npv"] == pytest.approx(5 / 8)
    no_positive_cases = rates(tn=5, fp=1, fn=0, tp=0)
    assert np.isnan(no_positive_cases["sensitivity"]) and np.isnan(no_positive_cases["balanced_accuracy"])


def test_auc_matches_scikit_learn_with_ties(cases):
    labels, scores = cases
    assert roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)


def test_roc_points_match_scikit_learn(cases):
    labels, scores = cases
    fpr, tpr = sweep(labels, scores).roc()
    sk_fpr, sk_tpr, _ = sk.roc_curve(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(sk.roc_auc_score(labels, scores))


def test_sweep_counts_equal_one_threshold_at_a_time(cases):
    labels, scores = cases
    s = sweep(labels, scores)
    assert np.all(np.diff(s.thresholds) > 0)
    for i in range(0, len(s.thresholds), 7):
        one = counts_at(labels, scores, s.thresholds[i])
        assert all(int(one[k]) == int(s.counts[k][i]) for k in one)


def test_candidate_thresholds_give_every_distinct_confusion_matrix(cases):
    labels, scores = cases
    thresholds = candidate_thresholds(scores)
    distinct = np.unique(scores)
    assert len(thresholds) == len(distinct) + 1
    assert counts_at(labels, scores, thresholds[-1])["tp"] == 0 and counts_at(labels, scores, 0.0)["fn"] == 0
    assert not np.isin(thresholds[1:-1], scores).any()  # midpoints: no case sits exactly on a threshold


def _brute_force(labels, scores, keep, objective):
    grid = candidate_thresholds(scores)
    best = None
    for t in grid:
        m = metrics_at(labels, scores, t)
        if keep(m) and (best is None or objective(m) > best[0] + 1e-12 or
                        (abs(objective(m) - best[0]) <= 1e-12 and m["sensitivity"] > best[2])):
            best = (objective(m), t, m["sensitivity"])
    return best[1]


def test_report_rule_maximises_balanced_accuracy_at_sensitivity_95(cases):
    labels, scores = cases
    points = operating_points(labels, scores)
    expected = _brute_force(labels, scores, lambda m: m["sensitivity"] >= 0.95, lambda m: m["balanced_accuracy"])
    assert points["report_rule"] == pytest.approx(expected)
    assert metrics_at(labels, scores, points["report_rule"])["sensitivity"] >= 0.95


def test_youden_maximises_sensitivity_plus_specificity(cases):
    labels, scores = cases
    fpr, tpr, thresholds = sk.roc_curve(labels, scores)
    chosen = metrics_at(labels, scores, operating_points(labels, scores)["youden"])
    assert chosen["sensitivity"] + chosen["specificity"] - 1 == pytest.approx(np.max(tpr - fpr))


@pytest.mark.parametrize("target", [0.9, 0.95, 0.99])
def test_target_sensitivity_gives_the_best_specificity_that_reaches_it(cases, target):
    labels, scores = cases
    threshold = threshold_for_sensitivity(labels, scores, target)
    chosen = metrics_at(labels, scores, threshold)
    assert chosen["sensitivity"] >= target
    higher = candidate_thresholds(scores)[candidate_thresholds(scores) > threshold]
    assert all(metrics_at(labels, scores, t)["sensitivity"] < target for t in higher[:1])


def test_operating_points_include_every_preset(cases):
    assert set(operating_points(*cases)) == {"default", "report_rule", "youden", "sensitivity_95", "sensitivity_99"}


def test_bootstrap_is_stratified_seeded_and_brackets_the_estimate(cases):
    labels, scores = cases
    indices = stratified_bootstrap_indices(labels, 50, seed=3)
    assert (labels[indices].sum(axis=1) == labels.sum()).all()

    def intervals(seed):
        resamples = Resamples.of(labels, scores, stratified_bootstrap_indices(labels, 500, seed))
        return {"auc": interval(resamples.auc())} | resamples.intervals_at(0.5)

    first = intervals(3)
    assert first == intervals(3) and first != intervals(4)
    point = metrics_at(labels, scores, 0.5)
    for name in ("sensitivity", "specificity", "balanced_accuracy"):
        low, high = first[name]
        assert low < point[name] < high
    low, high = first["auc"]
    assert low < sk.roc_auc_score(labels, scores) < high


def test_each_resample_matches_scikit_learn_on_the_resampled_cases(cases):
    labels, scores = cases
    indices = stratified_bootstrap_indices(labels, 5, seed=0)
    resamples = Resamples.of(labels, scores, indices)
    aucs, at_half = resamples.auc(), resamples.metrics_at(0.5)
    for i, row in enumerate(indices):
        assert aucs[i] == pytest.approx(sk.roc_auc_score(labels[row], scores[row]))
        assert at_half["specificity"][i] == pytest.approx(sk.recall_score(labels[row], scores[row] >= 0.5, pos_label=0))


def test_paired_bootstrap_separates_real_differences_from_none(cases):
    labels, scores = cases
    same = paired_bootstrap_differences(labels, scores, scores, 0.5, 0.5, n_resamples=300, seed=0)
    assert same["auc"]["difference"] == 0 and not same["auc"]["excludes_zero"]
    noisy = np.clip(scores + np.random.default_rng(0).normal(0, 0.4, len(scores)), 0, 1)
    different = paired_bootstrap_differences(labels, scores, noisy, 0.5, 0.5, n_resamples=300, seed=0)
    assert different["auc"]["difference"] > 0 and different["auc"]["excludes_zero"]
    assert different["auc"]["difference"] == pytest.approx(roc_auc(labels, scores) - roc_auc(labels, noisy))


def test_predictive_values_at_the_sample_prevalence_are_precision_and_npv(cases):
    from core.metrics import predictive_values

    labels, scores = cases
    m = metrics_at(labels, scores, 0.5)
    ppv, npv = predictive_values(m["sensitivity"], m["specificity"], labels.mean())
    assert ppv == pytest.approx(m["precision"]) and npv == pytest.approx(m["npv"])
    low_ppv, high_npv = predictive_values(m["sensitivity"], m["specificity"], 0.05)
    assert low_ppv < ppv and high_npv > npv
