"""Does a model hold up? Its logits on every perturbation of the suite (core.perturbations), and its metrics at
one threshold under each, with stratified bootstrap intervals over the same resampled cases as everywhere else.

The logits need torch (perturbed_logits); everything after them is numpy, so the app computes its table from
the committed perturbed predictions without a model.
"""

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd
from PIL import Image
from scipy.special import expit

from core.cards import PerturbedAuc, RobustnessRecord
from core.metrics import Resamples, interval, is_positive, metrics_at, roc_auc
from core.perturbations import CLEAN, FRAMING_CHECK, SUITE, Perturbation, apply_suite

METRICS = ("sensitivity", "specificity", "balanced_accuracy")


def perturbed_logits(model, images: np.ndarray, perturbations: tuple[Perturbation, ...] = SUITE, device="cpu") -> dict[str, np.ndarray]:
    """fp32 logits (as float64) of every (28, 28) uint8 image under each perturbation: name -> (N,)."""
    from core.inference import predict_logits  # torch only here

    return {name: predict_logits(model, batch, device).numpy().astype(np.float64)
            for name, batch in apply_suite(images, perturbations).items()}


@dataclass(frozen=True)
class Row:
    """One perturbation's point estimates and 95% intervals at one threshold."""

    perturbation: str
    auc: float
    auc_ci95: tuple[float, float]
    values: Mapping[str, float]  # METRICS at the threshold (read-only: rows are shared between sessions)
    ci95: Mapping[str, tuple[float, float]]


def robustness_rows(labels, probabilities: dict[str, np.ndarray], threshold: float, indices: np.ndarray,
                    auc: dict[str, PerturbedAuc] | None = None) -> list[Row]:
    """Metrics at threshold under each perturbation (name -> probabilities, same cases as labels), with intervals
    from the bootstrap resamples `indices`. AUC does not depend on the threshold: pass the card's in (else computed)."""
    auc = auc or perturbed_aucs(labels, probabilities, indices)
    rows = []
    for name, scores in probabilities.items():
        point = metrics_at(labels, scores, threshold)
        resampled = Resamples.of(labels, scores, indices).intervals_at(threshold)
        rows.append(Row(name, auc[name].auc, auc[name].auc_ci95, MappingProxyType({m: point[m] for m in METRICS}),
                        MappingProxyType({m: resampled[m] for m in METRICS})))
    return rows


def perturbed_aucs(labels, probabilities: dict[str, np.ndarray], indices: np.ndarray) -> dict[str, PerturbedAuc]:
    """AUC under each perturbation, with its percentile interval over the bootstrap resamples `indices`."""
    return {name: PerturbedAuc(roc_auc(labels, scores), interval(Resamples.of(labels, scores, indices).auc()))
            for name, scores in probabilities.items()}


def weakest(rows: list[Row], metric: str = "balanced_accuracy") -> Row:
    """The perturbation with the lowest value of metric (the clean image included)."""
    return min(rows, key=lambda row: row.values[metric])


def probabilities_of(logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: expit(values) for name, values in logits.items()}


def perturbed_frame(model, splits: dict, device="cpu", perturbations: tuple[Perturbation, ...] = SUITE) -> pd.DataFrame:
    """One row per image of each split given (name -> core.data.Split), in order: split, index, and the fp32 logit
    under each perturbation of the suite (one column each; "clean" is predictions.csv's logit, up to the last bits that
    another batch or thread count changes)."""
    frames = []
    for split, data in splits.items():
        logits = perturbed_logits(model, data.images[:, 0].numpy(), perturbations, device=device)
        frames.append(pd.DataFrame({"split": split, "index": np.arange(len(data))} | logits))
    return pd.concat(frames, ignore_index=True)


def split_logits(frame: pd.DataFrame, split: str) -> dict[str, np.ndarray]:
    """One split's logits under each perturbation: name -> (N,), in the order of predictions.csv."""
    rows = frame[frame["split"] == split].sort_values("index")
    return {name: rows[name].to_numpy() for name in frame.columns if name not in ("split", "index")}


def robustness_record(frame: pd.DataFrame, predictions: pd.DataFrame, threshold: float) -> RobustnessRecord:
    """The card's record of a perturbed frame: AUC with bootstrap intervals, and the selection score, per split."""
    from core.evaluation import bootstrap_indices, split_arrays

    auc, worst, weakest_name = {}, {}, {}
    for split in frame["split"].unique():
        labels, _ = split_arrays(predictions, split)
        logits = split_logits(frame, split)
        auc[split] = perturbed_aucs(labels, probabilities_of(logits), bootstrap_indices(labels))
        score = suite_score(labels, logits, threshold)
        worst[split], weakest_name[split] = score.worst_balanced_accuracy, score.weakest
    return RobustnessRecord(tuple(p for p in frame.columns if p not in ("split", "index")), auc, worst, weakest_name)


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


@dataclass(frozen=True)
class FramingCheck:
    """One model's readings of one image at each framing of core.perturbations.FRAMING_CHECK, at one threshold."""

    perturbations: tuple[str, ...]  # the first is the image as the dataset frames it
    logits: np.ndarray  # (len(perturbations),) fp32 logits
    threshold: float

    @property
    def probabilities(self) -> np.ndarray:
        return expit(self.logits)

    @property
    def decisions(self) -> np.ndarray:
        return is_positive(self.probabilities, self.threshold)

    @property
    def holds(self) -> bool:
        """Whether every framing gets the decision the image gets as the dataset frames it (the first reading)."""
        return bool((self.decisions == self.decisions[0]).all())


FRAMING_SOURCE_SIDE = 224  # 8 source pixels per model pixel: ample for an anti-aliased 28×28, and fast to reframe


def framing_sentence(check: FramingCheck, labels: dict[str, str]) -> str:
    """The framing check of one model in words: the range of its raw probability and whether its decision holds."""
    probabilities = check.probabilities
    span = f"raw P(pneumonia) {probabilities.min():.2f}–{probabilities.max():.2f} over {len(probabilities)} readings"
    if check.holds:
        return f"{span}: the decision holds."
    changed = [labels[name].lower() for name, decided in zip(check.perturbations, check.decisions) if decided != check.decisions[0]]
    return f"{span}: the decision changes with framing ({', '.join(changed)}): treat as uncertain."


def framing_images(image: np.ndarray, perturbations: tuple[Perturbation, ...] = FRAMING_CHECK) -> np.ndarray:
    """(len(perturbations), 28, 28) uint8: the image, full resolution or 28×28, read at each framing and exposure.

    The clean reading is the upload path's own (core.imaging.to_dataset_image). For the others a big image is first
    box-averaged to a short side of at least FRAMING_SOURCE_SIDE (a 2000² upload: 8 ms instead of 130 ms for six
    framings); each then differs from one made at full resolution by about a grey level.
    """
    factor = max(1, min(image.shape) // FRAMING_SOURCE_SIDE)
    source = np.asarray(Image.fromarray(image).reduce(factor)) if factor > 1 else image
    return np.stack([p.apply(image if p is CLEAN else source) for p in perturbations])


def framing_check(models: dict, image: np.ndarray, thresholds: dict[str, float],
                  perturbations: tuple[Perturbation, ...] = FRAMING_CHECK) -> dict[str, FramingCheck]:
    """Every model's reading of the image at each framing (one batch per model), by model name."""
    from core.inference import predict_logits  # torch only here

    batch = framing_images(image, perturbations)
    names = tuple(p.name for p in perturbations)
    return {name: FramingCheck(names, predict_logits(model, batch).numpy().astype(np.float64), thresholds[name])
            for name, model in models.items()}
