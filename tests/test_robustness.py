"""Metrics under the perturbation suite, checked against scikit-learn; the committed perturbed predictions against
the cards and the weights; and the framing check on real paediatric X-rays at their own framing and cropped."""

import dataclasses
import json

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import confusion_matrix, roc_auc_score

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
from core.data import load_dataset
from core.evaluation import bootstrap_indices
from core.imaging import decode
from core.inference import load_model
from core.robustness import (FramingCheck, framing_check, framing_images, framing_sentence, perturbed_frame, robustness_record, robustness_rows,
                             split_logits, suite_score)
from tests.conftest import FIXTURES, REAL_DATA_ROOT, needs_real_data

MEASURED = sorted(p.parent for p in CHECKPOINTS_DIR.glob("*/perturbed.csv"))


def _synthetic(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.6).astype(int)
    logits = {name: rng.normal(1.5 * labels - 0.5 + shift, 1.0) for name, shift in (("clean", 0.0), ("tighter_17", 0.8), ("darker", -0.6))}
    return labels, logits


def test_rows_are_scikit_learns_numbers_with_intervals_around_them():
    labels, logits = _synthetic()
    probabilities = {name: expit(values) for name, values in logits.items()}
    rows = robustness_rows(labels, probabilities, 0.55, bootstrap_indices(labels))
    assert [row.perturbation for row in rows] == list(logits)
    for row in rows:
        tn, fp, fn, tp = confusion_matrix(labels, probabilities[row.perturbation] >= 0.55).ravel()
        assert row.values["sensitivity"] == pytest.approx(tp / (tp + fn)) and row.values["specificity"] == pytest.approx(tn / (tn + fp))
        assert row.auc == pytest.approx(roc_auc_score(labels, probabilities[row.perturbation]))
        for metric, (low, high) in row.ci95.items():
            assert low <= row.values[metric] <= high and high - low > 0.01
        assert row.auc_ci95[0] <= row.auc <= row.auc_ci95[1]


def test_the_selection_score_is_the_worst_balanced_accuracy_at_the_threshold():
    labels, logits = _synthetic()
    score = suite_score(labels, logits, 0.5)
    balanced = {name: (np.mean(expit(v)[labels == 1] >= 0.5) + np.mean(expit(v)[labels == 0] < 0.5)) / 2 for name, v in logits.items()}
    assert score.worst_balanced_accuracy == pytest.approx(min(balanced.values())) and score.weakest == min(balanced, key=balanced.get)
    assert score.mean_balanced_accuracy == pytest.approx(np.mean(list(balanced.values())))


def test_a_framing_check_holds_only_when_every_reading_decides_alike():
    steady = FramingCheck(("clean", "tighter_17"), np.array([2.0, 1.0]), 0.5)
    swayed = FramingCheck(("clean", "tighter_17"), np.array([0.5, -0.5]), 0.5)
    assert steady.holds and not swayed.holds
    assert framing_sentence(swayed, {"clean": "As framed", "tighter_17": "Framed 17% tighter"}).endswith(
        "the decision changes with framing (framed 17% tighter): treat as uncertain.")


@pytest.mark.parametrize("folder", MEASURED, ids=lambda p: p.name)
def test_the_card_records_what_the_committed_perturbed_predictions_give(folder):
    checkpoint = open_checkpoint(folder)
    perturbed, record = checkpoint.perturbed(), checkpoint.card.robustness
    for split in ("val", "test"):
        rows = checkpoint.predictions[checkpoint.predictions["split"] == split]
        logits = split_logits(perturbed, split)
        assert np.abs(logits["clean"] - rows["logit"].to_numpy()).max() < 1e-5  # the same logits, up to thread-count rounding
        assert {name: roc_auc_score(rows["label"], values) for name, values in logits.items()} == pytest.approx(
            {name: auc.auc for name, auc in record.auc[split].items()})
        score = suite_score(rows["label"].to_numpy(), logits, checkpoint.card.opening_threshold)
        assert (score.worst_balanced_accuracy, score.weakest) == (record.worst_balanced_accuracy[split], record.weakest[split])


def test_the_cards_auc_intervals_are_the_bootstrap_the_record_makes():
    """All of one card's record, intervals included (2,000 resamples per perturbation and split: once is enough)."""
    checkpoint = open_checkpoint(MEASURED[-1])
    as_json = lambda record: json.dumps(dataclasses.asdict(record), sort_keys=True)  # noqa: E731
    recomputed = robustness_record(checkpoint.perturbed(), checkpoint.predictions, checkpoint.card.opening_threshold)
    record = checkpoint.card.robustness
    assert as_json(dataclasses.replace(recomputed, predictions_sha256=record.predictions_sha256)) == as_json(record)


@needs_real_data
@pytest.mark.parametrize("folder", MEASURED, ids=lambda p: p.name)
def test_the_committed_weights_give_the_committed_perturbed_predictions(folder):
    checkpoint = open_checkpoint(folder)
    splits = load_dataset(REAL_DATA_ROOT).splits
    recomputed = perturbed_frame(load_model(checkpoint), {split: splits[split].head(1) for split in ("val", "test")})
    committed = checkpoint.perturbed().set_index(["split", "index"]).loc[recomputed.set_index(["split", "index"]).index]
    assert np.abs(recomputed.set_index(["split", "index"]).to_numpy() - committed.to_numpy()).max() < 1e-5


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/fixtures/cxr")
def test_the_framing_check_reads_a_full_resolution_xray_as_the_suite_frames_it():
    from core.perturbations import FRAMING_CHECK
    from core.imaging import to_dataset_image

    grey = decode((FIXTURES / "kermany_NORMAL2-IM-1430-0001.jpeg").read_bytes()).grey
    images = framing_images(grey)
    assert images.shape == (len(FRAMING_CHECK), 28, 28)
    assert np.array_equal(images[0], to_dataset_image(grey))  # the clean reading is the upload path's own
    for image, perturbation in zip(images, FRAMING_CHECK):
        assert np.abs(image.astype(int) - perturbation.apply(grey)).mean() < 1.5, perturbation.name
    model = load_model(open_checkpoint(CHECKPOINTS_DIR / "cnn"))
    check = framing_check({"cnn": model}, grey, {"cnn": 0.5})["cnn"]
    assert check.perturbations[0] == "clean" and check.logits.shape == (len(FRAMING_CHECK),)
