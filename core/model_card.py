"""A model card (Mitchell et al. 2019) with the TRIPOD+AI items that apply, written from a checkpoint card and its
committed predictions: every number here is computed, none typed. Torch-free."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.calibration import reliability
from core.cards import Card
from core.evaluation import OPERATING_POINT_LABELS
from core.metrics import is_positive
from core.reporting import duration, initialisation_text, kept_epochs, percent
from core.registry import spec

INTENDED_USE = ("A research and teaching demonstration: how a pneumonia classifier for children's chest X-rays behaves, "
                "where its threshold trades missed pneumonia against healthy children flagged, how far its probabilities "
                "can be trusted, and where it looks. Intended users: people learning about or demonstrating medical image "
                "classification, clinicians among them.")
OUT_OF_SCOPE = ("Any decision about a patient. Adults; children outside the 1–5 age range; other hospitals, equipment or "
                "protocols; lateral or other non-frontal views; images other than chest radiographs; any use where the "
                "image's 28×28 reduction loses what matters (subtle or small findings).")
POPULATION = ("PneumoniaMNIST (MedMNIST v2): frontal chest X-rays of children aged 1–5 from one centre, Guangzhou Women and "
              "Children's Medical Center, labelled normal or pneumonia (bacterial or viral) by the source dataset's "
              "graders, centre-cropped and reduced to 28×28 pixels. No age, sex or other demographics are available, so "
              "performance across subgroups cannot be assessed.")


@dataclass(frozen=True)
class Evidence:
    """What the committed predictions and the upload gate say about a model, computed outside the card."""

    test_labels: np.ndarray
    test_calibrated: np.ndarray
    test_raw: np.ndarray
    gate_false_alarm_rate: float  # share of test images the upload gate calls far from the training images


def performance_table(card: Card) -> pd.DataFrame:
    """Test metrics with bootstrap 95% intervals at every operating point chosen on validation."""
    rows = []
    for point, threshold in card.metrics.thresholds.items():
        m = card.metrics.test.operating_points[point]
        ci = m["ci95"]
        rows.append({"Operating point (chosen on validation)": OPERATING_POINT_LABELS[point], "Threshold": f"{threshold:.3f}",
                     **{label: f"{percent(m[key])} ({percent(ci[key][0])}–{percent(ci[key][1])})"
                        for key, label in (("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("precision", "PPV"), ("npv", "NPV"))},
                     "Missed / flagged in error": f"{m['fn']} / {m['fp']}"})
    return pd.DataFrame(rows)


def failure_modes(card: Card, evidence: Evidence) -> list[str]:
    at_opening = card.metrics.test.operating_points[card.metrics.chosen_operating_point]
    labels, raw = evidence.test_labels.astype(bool), evidence.test_raw
    confident_fp = int(np.sum(~labels & is_positive(raw, 0.9)))
    confident_fn = int(np.sum(labels & ~is_positive(raw, 0.1)))
    return [
        f"Healthy children flagged: {at_opening['fp']} of {at_opening['fp'] + at_opening['tn']} test normals at the opening "
        f"threshold; {confident_fp} with a raw score of 0.9 or more (the Case gallery lists them, most confident first).",
        f"Missed pneumonia: {at_opening['fn']} of {at_opening['fn'] + at_opening['tp']} at the opening threshold; "
        f"{confident_fn} scored below 0.1.",
        f"Validation flatters: AUC {card.metrics.val.auc:.3f} on validation, {card.metrics.test.auc:.3f} on test. Validation "
        "shares children with training; test does not.",
        f"Probabilities: test ECE {reliability(evidence.test_labels, evidence.test_calibrated).ece:.3f} after recalibration "
        f"(raw {reliability(evidence.test_labels, evidence.test_raw).ece:.3f}); validation's prevalence is built in unless "
        "adjusted (Calibration page).",
        f"Uploads: the input gate flags {evidence.gate_false_alarm_rate:.1%} of test images as far from the training images, and "
        "does not catch every adult or foreign X-ray; a flagged upload is read only under a warning.",
        "Grad-CAM is coarse (one value per cell of the model's last feature map), and for a 'normal' reading it shows "
        "evidence for normal.",
    ]


def tripod_ai(card: Card, evidence: Evidence) -> pd.DataFrame:
    """The TRIPOD+AI (Collins et al., BMJ 2024) items a public-data demonstration can address, and where."""
    counts = card.data.class_counts
    total = {split: c.normal + c.pneumonia for split, c in counts.items()}
    record = card.calibration
    items = [
        ("Title/abstract: identify the study as developing and evaluating a prediction model", f"{spec(card.name).display_name}, diagnostic, binary (pneumonia vs normal)."),
        ("Source of data", f"PneumoniaMNIST file sha256 {card.data.sha256[:12]}…; fixed MedMNIST splits."),
        ("Participants", POPULATION),
        ("Outcome", "Pneumonia as labelled by the source dataset (no reference standard beyond it)."),
        ("Predictors", f"Image pixels only: {card.input}."),
        ("Sample size", "; ".join(f"{split} {total[split]} ({c.pneumonia} pneumonia)" for split, c in counts.items()) + "."),
        ("Missing data", "None: every image has a label."),
        ("Analytical methods", f"{spec(card.name).description} Class-weighted BCE (pos_weight {card.loss.pos_weight:.3f}); "
                               f"weights kept at epoch {kept_epochs(card)}; thresholds chosen on validation."),
        ("Model performance", f"Test AUC {card.metrics.test.auc:.3f} (95% CI {card.metrics.test.auc_ci95[0]:.3f}–{card.metrics.test.auc_ci95[1]:.3f}); "
                              "sensitivity, specificity, PPV and NPV with bootstrap CIs above; decision curve on its own page."),
        ("Calibration", f"{record.method} fitted on {record.fitted_on}; test ECE raw {reliability(evidence.test_labels, evidence.test_raw).ece:.3f}, "
                        f"recalibrated {reliability(evidence.test_labels, evidence.test_calibrated).ece:.3f}."),
        ("Model updating", "None after training; recalibration only (fitted on validation)."),
        ("Fairness", "Not assessable: no demographic data."),
        ("Limitations", "One centre, 28×28 images, validation not independent of training."),
        ("Open science", f"Code, weights (sha256 {card.weights_sha256[:12]}…) and predictions in the repository; training "
                         f"took {duration(card.training.epoch_seconds_total)} on {card.training.device}."),
        ("Initialisation", initialisation_text(card) + "."),
    ]
    return pd.DataFrame(items, columns=["TRIPOD+AI item", "This model"])
