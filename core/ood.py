"""How far an image lies from the training images, by two distances, each with a threshold keeping 99% of
validation images (fitted on the training split):

- layout: the mean distance to its 5 nearest training images on 14×14 average-pooled pixels, the least over the image
  as it is, widened back by UNSQUEEZE (so that an X-ray another pipeline resized to a square without keeping its
  aspect ratio reads as the dataset's centre square again) and with black padding trimmed;
- grey levels: the mean distance of its grey-level percentiles (LEVELS, of that best-matching reading) to those of the
  5 nearest training images: adults' X-rays, brighter and flatter, differ here where their layout, widened, does not.

Chosen by measurement (benchmarks/ood.py prints every candidate; the widening and the second distance were chosen
looking at ../shared/fixtures/resized-224 and adult-cxr, the thresholds on validation only). Torch-free.
"""

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from PIL import Image

from core.assets import OOD_REFERENCE
from core.imaging import to_dataset_image
from core.io import atomic_write_bytes
from core.perturbations import Perturbation

POOL = 2  # 28×28 -> 14×14
NEIGHBOURS = 5
KEEP = 0.99  # share of validation images below each threshold
# Widths the image is also read at, stretched back: the paediatric source X-rays are 1.2-1.7 times as wide as high,
# and a pipeline that resizes them to a square squeezes them by as much.
UNSQUEEZE = (1.0, 1.2, 1.4, 1.6)
LEVELS = np.linspace(2, 98, 25)  # the grey-level percentiles compared
SOURCE_SIDE = 224  # a big image is box-averaged to about this short side before it is widened (8 source pixels per model pixel)
PADDING_LEVEL = 8  # edge rows and columns no brighter than this are padding, trimmed for one more reading
READINGS = len(UNSQUEEZE) + 1  # as it is, widened back, and without black padding


def readings(grey: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """(READINGS, 28, 28) uint8: the image as the models read it (`image` when given, else the dataset's reduction of
    `grey`, full resolution or 28×28), widened back by each UNSQUEEZE factor, and with black padding trimmed."""
    factor = max(1, min(grey.shape) // SOURCE_SIDE)
    source = np.asarray(Image.fromarray(grey).reduce(factor)) if factor > 1 else grey
    widened = [Perturbation("widened", "widened", "aspect", aspect=a).apply(source) for a in UNSQUEEZE[1:]]
    return np.stack([to_dataset_image(grey) if image is None else image, *widened, to_dataset_image(unpadded(source))])


def unpadded(grey: np.ndarray) -> np.ndarray:
    """The image without the black rows and columns at its edges (letterboxing, a looser frame's border); as it is
    when that would leave less than half of either side."""
    rows, columns = np.flatnonzero(grey.max(axis=1) > PADDING_LEVEL), np.flatnonzero(grey.max(axis=0) > PADDING_LEVEL)
    if not len(rows) or not len(columns):
        return grey
    trimmed = grey[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    return trimmed if 2 * min(trimmed.shape[0] / grey.shape[0], trimmed.shape[1] / grey.shape[1]) >= 1 else grey


def grey_levels(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 to (N, len(LEVELS)) float64: each image's grey-level percentiles, in [0, 1]."""
    return np.percentile(np.asarray(images).reshape(len(images), -1), LEVELS, axis=1).T / 255


def _nearest_mean(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance of each query row to its NEIGHBOURS nearest reference rows (float64 throughout)."""
    squared = (queries ** 2).sum(1)[:, None] - 2 * queries @ reference.T + (reference ** 2).sum(1)[None]
    nearest = np.partition(squared, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    return np.sqrt(np.maximum(nearest, 0)).mean(axis=1)


@dataclass(frozen=True)
class Assessment:
    """Where one image lies: its layout distance (at its best reading) and its grey-level distance."""

    distance: float
    levels_distance: float
    reading: int  # which of the readings matched best (0: as it is)


def pooled_sums(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 to (N, 196) uint16 sums of 2×2 blocks: exact, and a quarter of the size of the images."""
    images = np.asarray(images, np.uint16).reshape(-1, 28 // POOL, POOL, 28 // POOL, POOL)
    return images.sum(axis=(2, 4), dtype=np.uint16).reshape(len(images), -1)


def _unit(sums: np.ndarray) -> np.ndarray:
    return sums.astype(np.float64) / (255 * POOL * POOL)  # float64: the expanded distance cancels badly in float32


@dataclass(frozen=True)
class Neighbourhood:
    """The training images (pooled, and their grey levels) and where validation images fall, to say how unusual an
    upload is."""

    reference: np.ndarray  # (N, 196) uint16 pooled sums of the training images
    validation_scores: np.ndarray  # sorted layout distances (the least over UNSQUEEZE)
    mean_image: np.ndarray  # (28, 28) float32, the training images' mean: which way round an X-ray is
    level_reference: np.ndarray  # (N, len(LEVELS)) float32 grey-level percentiles of the training images
    validation_level_scores: np.ndarray  # sorted grey-level distances

    @property
    def threshold(self) -> float:
        return float(np.quantile(self.validation_scores, KEEP, method="higher"))  # at least KEEP of them at or below

    @property
    def level_threshold(self) -> float:
        return float(np.quantile(self.validation_level_scores, KEEP, method="higher"))

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Mean Euclidean distance to the NEIGHBOURS nearest training images, per (28, 28) uint8 image as it is."""
        return _nearest_mean(_unit(pooled_sums(images)), _unit(self.reference))

    def assess(self, stack: np.ndarray) -> Assessment:
        """One image's readings (core.ood.readings) to its two distances."""
        layout = self.scores(stack)
        best = int(np.argmin(layout))
        levels = _nearest_mean(grey_levels(stack[best:best + 1]), self.level_reference.astype(np.float64))[0]
        return Assessment(float(layout[best]), float(levels), best)

    def assess_images(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 28, 28) uint8 images (no full resolution) to their layout and grey-level distances, (N,) each."""
        stacks = np.stack([readings(image) for image in images]) if len(images) else np.empty((0, READINGS, 28, 28), np.uint8)
        layout = self.scores(stacks.reshape(-1, 28, 28)).reshape(len(images), READINGS)
        best = stacks[np.arange(len(images)), layout.argmin(axis=1)]
        return layout.min(axis=1), _nearest_mean(grey_levels(best), self.level_reference.astype(np.float64))

    def is_far(self, scores) -> np.ndarray:
        """The layout rule the upload gate flags by: further from the training images than KEEP of validation."""
        return np.asarray(scores) > self.threshold

    def levels_unusual(self, level_scores) -> np.ndarray:
        """The grey-level rule the upload gate flags by: further than KEEP of validation."""
        return np.asarray(level_scores) > self.level_threshold

    def flags(self, images: np.ndarray) -> np.ndarray:
        """Whether either rule flags each (N, 28, 28) image."""
        layout, levels = self.assess_images(images)
        return self.is_far(layout) | self.levels_unusual(levels)

    def false_alarm_rate(self, images: np.ndarray) -> float:
        """The share of (N, 28, 28) images (e.g. the test split, all in distribution) either rule flags."""
        return float(np.mean(self.flags(images)))

    def share_of_validation_closer(self, score: float) -> float:
        """The share of validation images that lie closer to the training images than this score."""
        return float(np.searchsorted(self.validation_scores, score, side="left") / len(self.validation_scores))

    def pattern_correlation(self, image: np.ndarray) -> float:
        """Correlation of a (28, 28) image with the training images' mean: 0.08 to 0.97 for every training,
        validation and test image, about -0.75 for an inverted X-ray, about 0 for an image with no chest in it."""
        pattern = (self.mean_image - self.mean_image.mean()).ravel()
        centred = image.astype(np.float32).ravel() - image.mean()
        norm = float(np.linalg.norm(centred) * np.linalg.norm(pattern))
        return float(centred @ pattern / norm) if norm else 0.0

    @classmethod
    def fit(cls, train_images: np.ndarray, val_images: np.ndarray) -> "Neighbourhood":
        fitted = cls(pooled_sums(train_images), np.empty(0), np.asarray(train_images, np.float32).mean(axis=0),
                     grey_levels(train_images).astype(np.float32), np.empty(0))
        layout, levels = fitted.assess_images(val_images)
        return dataclasses.replace(fitted, validation_scores=np.sort(layout), validation_level_scores=np.sort(levels))

    def save(self, path: Path = OOD_REFERENCE) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{field.name: getattr(self, field.name) for field in dataclasses.fields(self)})
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path = OOD_REFERENCE) -> "Neighbourhood":
        with np.load(path) as data:
            return cls(**{field.name: data[field.name] for field in dataclasses.fields(cls)})
