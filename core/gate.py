"""The input gate: before any model reads an upload, say whether it is something the models can speak to.

Three outcomes. Refused: no prediction (unreadable, too small, blank, a colour picture, a document or screenshot).
Flagged: a prediction, but only under a warning that says why (outside the training population by layout or grey
levels, read also widened back in case another pipeline squeezed it, inverted-looking,
very elongated, a DICOM that is not a chest radiograph, transparency filled in). Accepted otherwise.
"""

from dataclasses import dataclass

import numpy as np

from core.imaging import CHEST_MODALITIES, MIN_SIDE, Decoded
from core.ood import Neighbourhood, readings

REFUSED, FLAGGED, ACCEPTED = "refused", "flagged", "accepted"
MIN_CONTRAST = 8  # grey levels between the 1st and 99th percentile: below this an image is blank
MAX_COLOURFUL = 0.15  # share of clearly coloured pixels a radiograph (or a screenshot of one) never reaches
MAX_WHITE = 0.5  # share of near-white pixels: a page or a screenshot, where X-rays stay below 0.2 even inverted
MIN_PATTERN = 0.2  # correlation with the training images' mean below which an image has no chest-like layout
MAX_ASPECT = 2.0  # long side over short side; the paediatric source images are up to about 1.6
CHEST_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS"}
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "RLD", "LLD"}


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reasons: tuple[str, ...]  # why refused or flagged, one sentence each
    notes: tuple[str, ...] = ()  # worth saying, not a reason to doubt the reading
    distance: float | None = None  # distance to the training images (core.ood), when the image was read
    share_closer: float | None = None  # share of validation images closer to the training images than this one


def refused(reason: str) -> Verdict:
    return Verdict(REFUSED, (reason,))


def check(decoded: Decoded, image: np.ndarray, neighbourhood: Neighbourhood) -> Verdict:
    """The verdict on a decoded upload and the 28×28 image the models would read."""
    grey = decoded.grey
    if min(decoded.width, decoded.height) < MIN_SIDE:
        return refused(f"The image is {decoded.width}×{decoded.height} pixels; the models need at least {MIN_SIDE}×{MIN_SIDE}.")
    if min(grey.shape) < MIN_SIDE:
        return refused(f"Without its transparent pixels the image is {grey.shape[1]}×{grey.shape[0]} pixels; "
                       f"the models need at least {MIN_SIDE}×{MIN_SIDE}.")
    low, high = np.percentile(grey, [1, 99])
    if high - low < MIN_CONTRAST:
        return refused("The image is blank or almost uniform: there is no X-ray in it to read.")
    if decoded.colourfulness > MAX_COLOURFUL:
        return refused("This is a colour picture, not a radiograph: the models read grey chest X-rays only.")
    if np.mean(grey >= 225) > MAX_WHITE:
        return refused("Most of this image is white page, like a document or a screenshot, not a radiograph.")

    assessment = neighbourhood.assess(readings(grey, image))
    distance = assessment.distance
    share = neighbourhood.share_of_validation_closer(distance)
    reasons, notes = [], []
    if neighbourhood.is_far(distance):
        reasons.append(f"It lies further from the training images than {_share(share)} of the validation X-rays: it may not be a "
                       "chest X-ray of a child aged 1–5 like those the models learned from (adults, other views and other "
                       "equipment look different), so the probabilities below may mean little.")
    elif neighbourhood.levels_unusual(assessment.levels_distance):
        reasons.append("Its grey levels are spread unlike those of the training X-rays (further from them than 99% of the "
                       "validation X-rays): adults' X-rays and other equipment or processing look like this, so the "
                       "probabilities below may mean little.")
    pattern = neighbourhood.pattern_correlation(image)
    if pattern < -MIN_PATTERN:
        reasons.append("It looks inverted (air bright, bones dark), as a MONOCHROME1 image shown raw would; the models "
                       "expect air dark. If it is inverted, invert it and upload it again.")
    elif pattern < MIN_PATTERN:
        reasons.append("At the 28×28 pixels the models read, it does not have the layout of a chest X-ray (lungs, heart "
                       "and spine where the training images have them).")
    long, short = max(grey.shape), min(grey.shape)
    if long / short > MAX_ASPECT:
        reasons.append(f"It is very elongated ({grey.shape[1]}×{grey.shape[0]}): the models see only its centre square, shown below.")
    if decoded.dicom is not None:
        reasons += _dicom_reasons(decoded.dicom)
    if decoded.transparent_fraction > 0:
        reasons.append(f"{decoded.transparent_fraction:.0%} of its pixels were transparent: they were cropped away or filled in "
                       "from the pixels around them, so they do not change the reading.")
    if decoded.frames > 1:
        notes.append(f"The file holds {decoded.frames} frames; the first is read.")

    return Verdict(FLAGGED if reasons else ACCEPTED, tuple(reasons), tuple(notes), distance, share)


def check_dataset_image(image: np.ndarray, neighbourhood: Neighbourhood) -> Verdict:
    """The verdict on a 28×28 PneumoniaMNIST image, as if it had been uploaded (the gallery's cases)."""
    height, width = image.shape
    return check(Decoded(image, "PNG", width, height, 8), image, neighbourhood)


def summary(verdict: Verdict) -> str:
    """The verdict in a few words, for the case report."""
    return verdict.outcome if verdict.outcome != FLAGGED else "flagged: " + " ".join(verdict.reasons)


def _share(share: float) -> str:
    return "all" if share >= 1 else f"{share:.1%}"


def _dicom_reasons(facts) -> list[str]:
    reasons = []
    if facts.modality and facts.modality not in CHEST_MODALITIES:
        reasons.append(f"Its DICOM header says modality {facts.modality}, not a radiograph ({', '.join(sorted(CHEST_MODALITIES))}): this is not a chest X-ray.")
    if facts.body_part and facts.body_part.upper() not in CHEST_PARTS:
        reasons.append(f"Its DICOM header says body part {facts.body_part}, not chest.")
    if facts.view.upper() in LATERAL_VIEWS:
        reasons.append(f"Its DICOM header says a lateral view ({facts.view}); the models know frontal views only.")
    return reasons
