"""Sentences, tables and figures the pages show, checked without Streamlit."""

from dataclasses import replace

import numpy as np
import pytest

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
from core.figures import RocCurve, confusion_matrix_figure, roc_figure, threshold_sweep_figure
from core.metrics import metrics_at, roc_auc, sweep
from core.reporting import comparison_table, duration, error_sentence, metrics_table, outcomes


def test_error_sentence_in_a_clinicians_words():
    counts = {"tn": 162, "fp": 72, "fn": 5, "tp": 385}
    assert error_sentence(counts, "The CNN") == "The CNN misses 5 of 390 pneumonia cases and flags 72 of 234 healthy children."
    assert "of 1 pneumonia case and" in error_sentence({"tn": 0, "fp": 1, "fn": 0, "tp": 1})
    assert "of 1 healthy child." in error_sentence({"tn": 0, "fp": 1, "fn": 0, "tp": 1})


def test_outcomes_label_every_case():
    labels, scores = np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.7, 0.1])
    assert list(outcomes(labels, scores, 0.5)) == ["TP", "FN", "FP", "TN"]


def test_duration_reads_naturally():
    assert [duration(s) for s in (42, 95.4, 4539)] == ["42 s", "1 min 35 s", "1 h 15 min"]


def test_metrics_table_shows_percentages_and_intervals():
    point = {"sensitivity": 0.974, "specificity": 0.782, "balanced_accuracy": 0.878, "precision": 0.882, "npv": 0.948,
             "accuracy": 0.902, "f1": 0.926}
    intervals = {name: (value - 0.01, value + 0.01) for name, value in point.items()}
    table = metrics_table(point, intervals, 0.967, (0.954, 0.979))
    assert table.iloc[0].tolist() == ["AUC (all thresholds)", "0.967", "0.954 – 0.979"]
    assert table.set_index("Metric").loc["Sensitivity"].tolist() == ["97.4%", "96.4% – 98.4%"]


def _card(name, parameters, seconds):
    card = open_checkpoint(CHECKPOINTS_DIR / name).card
    return replace(card, trainable_parameters=parameters, file_size_bytes=parameters * 4, input="28×28",
                   training=replace(card.training, device="cpu", epoch_seconds_total=seconds))


def test_comparison_table_marks_the_better_model_in_the_right_direction():
    cards = [_card("cnn", 10, 60), _card("resnet18", 20, 30)]
    points = [{"accuracy": 0.9, "balanced_accuracy": 0.8, "sensitivity": 0.99, "specificity": 0.6, "precision": 0.8,
               "npv": 0.9, "f1": 0.88, "fn": 1, "fp": 50},
              {"accuracy": 0.9, "balanced_accuracy": 0.85, "sensitivity": 0.95, "specificity": 0.75, "precision": 0.85,
               "npv": 0.8, "f1": 0.9, "fn": 4, "fp": 30}]
    better = comparison_table(cards, points, [0.96, 0.97], [0.4, 0.5]).set_index("Aspect")["Better"]
    a, b = "Custom CNN", "ResNet-18"
    assert better["Trainable parameters"] == a and better["Training time"] == b
    assert better["False negatives (missed pneumonia)"] == a and better["False positives (healthy flagged)"] == b
    assert better["AUC"] == b and better["Accuracy"] == "" and better["Threshold"] == ""


def test_confusion_matrix_figure_shows_counts_and_row_percentages():
    figure = confusion_matrix_figure({"tn": 162, "fp": 72, "fn": 5, "tp": 385})
    heatmap = figure.data[0]
    assert heatmap.text[0][1] == "<b>FP</b><br>72<br>30.8% of row"
    assert heatmap.z[1][1] == pytest.approx(100 * 385 / 390)
    assert list(heatmap.y) == ["Actual Normal", "Actual Pneumonia"]


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.65, 0.85, 0.95])
def test_the_roc_marker_sits_on_the_curve_where_the_threshold_puts_it(threshold):
    labels, scores = np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    s = sweep(labels, scores)
    roc = roc_figure([RocCurve.at("M", s, roc_auc(labels, scores), metrics_at(labels, scores, threshold), threshold, "#000")])
    assert [trace.name for trace in roc.data] == ["chance", "M (AUC 0.833)", f"M at {threshold:.3f}"]
    called = scores >= threshold
    marker = (roc.data[2].x[0], roc.data[2].y[0])
    assert marker == pytest.approx((called[labels == 0].mean(), called[labels == 1].mean()))
    assert marker in set(zip(roc.data[1].x, roc.data[1].y))  # a vertex of the drawn curve


def test_the_sweep_figure_marks_the_current_threshold():
    s = sweep(np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8, 0.9]))
    sweep_figure = threshold_sweep_figure(s, 0.5)
    assert sweep_figure.layout.shapes[0].x0 == 0.5 and len(sweep_figure.data) == 4
