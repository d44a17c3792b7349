"""The checkpoint card: a typed record of how a model was made, what it weighs, and how it scores.

`train.py` fills one in; `core.checkpoints` writes it as card.json beside the weights and checks the weights
against it when loading. Torch-free, so the app's first page can read cards without importing torch.
"""

import dataclasses
import json
import types
import typing
from dataclasses import dataclass

from core.recipe import TrainConfig

SCHEMA_VERSION = 3


class CardError(ValueError):
    """card.json is missing, unreadable or not a card of this schema; the message is one sentence for the user."""


@dataclass(frozen=True)
class ClassCounts:
    normal: int
    pneumonia: int


@dataclass(frozen=True)
class DataRecord:
    file: str
    sha256: str
    class_counts: dict[str, ClassCounts]  # per split


@dataclass(frozen=True)
class InitialisationRecord:
    """Where the weights started: ImageNet (from a local file or torchvision) or random, and why if not as asked."""

    imagenet: bool
    source: str
    reason: str = ""  # why random where ImageNet was wanted
    file: str = ""  # a local weights file's name and sha256
    sha256: str = ""
    weights: str = ""  # torchvision's weights enum


@dataclass(frozen=True)
class LossRecord:
    pos_weight: float
    formula: str


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    stage: str
    lr: float
    train_loss: float
    val_loss: float
    val_auc: float
    val_accuracy: float
    seconds: float
    member: int | None = None  # a seed ensemble's member


@dataclass(frozen=True)
class TrainingRecord:
    device: str
    torch: str
    started: str
    finished: str
    epoch_seconds_total: float
    best_epoch: int  # for a seed ensemble, its first member's
    history: list[EpochRecord]
    member_best_epochs: list[int] | None = None  # a seed ensemble's, one per member


@dataclass(frozen=True)
class SplitMetrics:
    n: int
    auc: float
    auc_ci95: tuple[float, float]
    operating_points: dict[str, dict]  # point name -> counts, rates and "ci95" per rate


@dataclass(frozen=True)
class Metrics:
    thresholds: dict[str, float]  # operating point name -> threshold, all chosen on validation
    chosen_operating_point: str  # where the app opens
    val: SplitMetrics
    test: SplitMetrics | None = None  # None while a run is blind to test (model selection)


@dataclass(frozen=True)
class CalibrationRecord:
    """The recalibration map p = sigmoid(slope * logit + intercept), fitted on one split, and why this method."""

    method: str
    slope: float
    intercept: float
    fitted_on: str
    fitted_prevalence: float  # the pneumonia share of that split: probabilities are calibrated to it
    why: str


@dataclass(frozen=True)
class PerturbedAuc:
    auc: float
    auc_ci95: tuple[float, float]


@dataclass(frozen=True)
class RobustnessRecord:
    """The model's logits under every perturbation of core.perturbations.SUITE (perturbed.csv, checked by its sha256),
    AUC under each, and the selection score of benchmarks/experiments.md at the app's opening threshold, per split."""

    perturbations: tuple[str, ...]
    auc: dict[str, dict[str, PerturbedAuc]]  # split -> perturbation -> AUC with its bootstrap interval
    worst_balanced_accuracy: dict[str, float]  # split -> over the suite, at the opening threshold
    weakest: dict[str, str]  # split -> where that worst value is
    predictions_sha256: str = ""  # filled in by core.checkpoints.save_checkpoint


@dataclass(frozen=True)
class Card:
    name: str  # registry name
    architecture: str  # a class in core.models, built with architecture_options: the network is made from the card
    architecture_options: dict
    input: str
    trainable_parameters: int
    initialisation: InitialisationRecord
    config: TrainConfig
    loss: LossRecord
    data: DataRecord
    training: TrainingRecord
    departures_from_report: list[str]
    metrics: Metrics
    weights_sha256: str = ""  # filled in by core.checkpoints.save_checkpoint
    predictions_sha256: str = ""
    file_size_bytes: int = 0
    schema_version: int = SCHEMA_VERSION
    calibration: CalibrationRecord | None = None
    robustness: RobustnessRecord | None = None

    @property
    def opening_threshold(self) -> float:
        """The operating point the app opens at (chosen on validation)."""
        return float(self.metrics.thresholds[self.metrics.chosen_operating_point])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Card":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CardError(f"card.json is not valid JSON ({error.msg} at line {error.lineno})") from None
        if not isinstance(data, dict):
            raise CardError("card.json does not hold a card")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise CardError(f"card.json has schema version {data.get('schema_version')!r}; this app reads version {SCHEMA_VERSION}")
        return _build(cls, data, "card")


def _build(cls, data, where: str):
    """Rebuild a (nested) card dataclass from parsed JSON, refusing missing, unknown or mistyped fields."""
    if not isinstance(data, dict):
        raise CardError(f"{where} should be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = set(data) - set(fields)
    missing = {name for name, f in fields.items() if name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    if unknown or missing:
        raise CardError(f"{where} is not a card of schema {SCHEMA_VERSION} "
                        f"(missing {sorted(missing) or 'nothing'}, unknown {sorted(unknown) or 'nothing'})")
    try:
        return cls(**{name: _value(hints[name], value, f"{where}.{name}") for name, value in data.items()})
    except CardError:
        raise
    except ValueError as error:  # a record's own check (e.g. an unknown augmentation in the recipe)
        raise CardError(f"{where}: {error}") from None


def _value(hint, value, where: str):
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    kind = options[0]
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where)
    base, arguments = typing.get_origin(kind) or kind, typing.get_args(kind)
    if base in (tuple, list):
        if not isinstance(value, list):
            raise CardError(f"{where} should be a list")
        if base is tuple and arguments and arguments[-1] is not Ellipsis:  # fixed length, a type per place
            if len(value) != len(arguments):
                raise CardError(f"{where} should hold {len(arguments)} values, not {len(value)}")
            return tuple(_value(kind, item, f"{where}[{i}]") for i, (kind, item) in enumerate(zip(arguments, value)))
        items = [_value(arguments[0], item, f"{where}[{i}]") for i, item in enumerate(value)] if arguments else value
        return tuple(items) if base is tuple else items
    if base is dict and arguments:
        if not isinstance(value, dict):
            raise CardError(f"{where} should be an object")
        return {key: _value(arguments[1], item, f"{where}.{key}") for key, item in value.items()}
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise CardError(f"{where} should be {base.__name__}, not {type(value).__name__}")
    return value
