"""A checkpoint is a folder: model.safetensors (weights), card.json (how it was made, metrics, thresholds, and the
sha256 of the other two files) and predictions.csv (validation and test probabilities with labels, so the app
needs no dataset). Opening one checks both files against the card. Torch-free: weights stay bytes here.
"""

import dataclasses
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.cards import Card, CardError
from core.io import atomic_write_bytes
from core.registry import REGISTRY, spec

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
PREDICTIONS_FILE = "predictions.csv"
PERTURBED_FILE = "perturbed.csv"  # logits under the perturbation suite (core.robustness), where measured
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
CHECKPOINTS_ENV = "PNEUMONIA_CHECKPOINTS"
PREDICTION_COLUMNS = ["split", "index", "label", "logit", "probability"]


class CheckpointError(Exception):
    """A checkpoint folder that cannot be used; the message is one sentence saying why and what to do."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    card: Card
    predictions: pd.DataFrame

    @property
    def name(self) -> str:
        return self.card.name

    def weights(self) -> bytes:
        """The weight file's bytes, checked against the card's sha256 (the bytes returned are the bytes checked)."""
        return _verified(self.folder / WEIGHTS_FILE, self.card.weights_sha256, self.card.name, "weights")

    def perturbed(self) -> pd.DataFrame | None:
        """The logits under the perturbation suite, checked against the card; None where they were never measured."""
        if self.card.robustness is None:
            return None
        csv = _verified(self.folder / PERTURBED_FILE, self.card.robustness.predictions_sha256, self.card.name, "perturbed predictions")
        frame = pd.read_csv(io.BytesIO(csv))
        if list(frame.columns) != ["split", "index", *self.card.robustness.perturbations]:
            raise CheckpointError(f"The {spec(self.name).display_name} checkpoint's perturbed predictions hold other perturbations "
                                  "than its card; measure it again (train.py robustness).")
        return frame


def checkpoints_dir() -> Path:
    """Where the app looks for checkpoints: $PNEUMONIA_CHECKPOINTS, else the committed checkpoints/."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or CHECKPOINTS_DIR)


def trained_models(root: Path | None = None) -> dict[str, Path]:
    """Registry models that have a checkpoint folder (under root, default checkpoints_dir()), in registry order."""
    root = root or checkpoints_dir()
    return {name: root / name for name in REGISTRY if (root / name).is_dir()}


def _verified(path: Path, expected: str, name: str, what: str) -> bytes:
    label = spec(name).display_name
    try:
        data = path.read_bytes()
    except OSError:
        raise CheckpointError(f"The {label} checkpoint has no {what} file ({path.name}); restore it or retrain the model.") from None
    if sha256(data) != expected:
        raise CheckpointError(f"The {label} checkpoint's {what} ({path.name}) do not match its card: the file was changed "
                              "or damaged after training, so the model is disabled; restore the file or retrain.")
    return data


def _described(architecture: str, options) -> str:
    return architecture + "(" + ", ".join(f"{key}={value!r}" for key, value in options.items()) + ")"


def open_checkpoint(folder: Path, expected_name: str | None = None) -> Checkpoint:
    """Read and check a checkpoint folder: a valid card (of expected_name, if given), predictions and weights whose
    sha256 match it."""
    folder = Path(folder)
    try:
        text = (folder / CARD_FILE).read_text()
    except (OSError, UnicodeDecodeError):
        raise CheckpointError(f"The checkpoint in {folder.name}/ has no readable {CARD_FILE}; restore it or retrain the model.") from None
    try:
        card = Card.from_json(text)
    except CardError as error:
        raise CheckpointError(f"The checkpoint in {folder.name}/ cannot be used: {error}.") from None
    if card.name not in REGISTRY or expected_name not in (None, card.name):
        raise CheckpointError(f"The checkpoint in {folder.name}/ is of model {card.name!r}, not the {expected_name or 'registry'}'s.")
    entry = spec(card.name)
    if (card.architecture, card.architecture_options) != (entry.architecture, dict(entry.options)):
        raise CheckpointError(f"The {entry.display_name} checkpoint holds a {_described(card.architecture, card.architecture_options)}, "
                              f"but the registry now describes a {_described(entry.architecture, entry.options)}: "
                              "retrain the model or restore its registry entry.")
    record = card.robustness
    if record is not None and (record.perturbations[:1] != ("clean",) or any(
            set(aucs) != set(record.perturbations) for aucs in record.auc.values()) or set(record.weakest) != set(record.auc)
            or not set(record.weakest.values()) <= set(record.perturbations)):
        raise CheckpointError(f"The checkpoint in {folder.name}/ cannot be used: its robustness record does not match its own "
                              "perturbations; measure it again (train.py robustness).")
    csv = _verified(folder / PREDICTIONS_FILE, card.predictions_sha256, card.name, "predictions")
    predictions = pd.read_csv(io.BytesIO(csv))
    checkpoint = Checkpoint(folder, card, predictions)
    checkpoint.weights()
    return checkpoint


def require_complete(checkpoint: Checkpoint) -> Checkpoint:
    """The app shows test metrics and calibrated probabilities: a blind (validation-only) or uncalibrated card won't do."""
    if checkpoint.card.metrics.test is None or checkpoint.card.calibration is None:
        missing = "test predictions" if checkpoint.card.metrics.test is None else "a calibration"
        raise CheckpointError(f"The {spec(checkpoint.name).display_name} checkpoint has no {missing} (a model-selection run); "
                              "train it without --blind to show it here.")
    return checkpoint


def save_checkpoint(folder: Path, weights: bytes, card: Card, predictions: pd.DataFrame, perturbed: pd.DataFrame | None = None) -> Card:
    """Write weights, predictions (and perturbed predictions, for card.robustness), then the card with their sha256
    (last, so a complete card means a complete folder)."""
    folder = Path(folder)
    csv = predictions[PREDICTION_COLUMNS].to_csv(index=False, float_format="%.17g").encode()
    atomic_write_bytes(folder / WEIGHTS_FILE, weights)
    atomic_write_bytes(folder / PREDICTIONS_FILE, csv)
    if perturbed is not None:
        perturbed_csv = perturbed.to_csv(index=False, float_format="%.9g").encode()  # fp32 logits: 9 digits round-trip
        atomic_write_bytes(folder / PERTURBED_FILE, perturbed_csv)
        card = dataclasses.replace(card, robustness=dataclasses.replace(card.robustness, predictions_sha256=sha256(perturbed_csv)))
    card = dataclasses.replace(card, weights_sha256=sha256(weights), predictions_sha256=sha256(csv), file_size_bytes=len(weights))
    atomic_write_bytes(folder / CARD_FILE, card.to_json().encode())
    return card
