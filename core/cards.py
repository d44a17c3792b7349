"""The checkpoint card: a typed record of how a model was made, what it weighs, and how it scores.

`train.py` fills one in; `core.checkpoints` writes it as card.json beside the weights and checks the weights
against it when loading. Torch-free, so the app's first page can read cards without importing torch.
"""

import dataclasses
import json
import types
import typing
from dataclasses import dataclass

SCHEMA_VERSION = 2


class CardError(ValueError):
    """card.json is missing, unreadable or not a card of this schema; the message is one sentence for the user."""


@dataclass(frozen=True)
class DataRecord:
    file: str
    sha256: str
    class_counts: dict[str, dict[str, int]]  # split -> {"normal": n, "pneumonia": n}


@dataclass(frozen=True)
class TrainingRecord:
    device: str
    torch: str
    started: str
    finished: str
    epoch_seconds_total: float
    best_epoch: int  # for a seed ensemble, its first member's
    history: list[dict]  # one record per epoch: stage, lr, losses, validation AUC and accuracy, seconds (and member)
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
class Card:
    name: str  # registry name
    architecture: str
    input: str
    trainable_parameters: int
    initialisation: dict
    config: dict
    loss: dict
    data: DataRecord
    training: TrainingRecord
    departures_from_report: list[str]
    metrics: Metrics
    weights_sha256: str = ""  # filled in by core.checkpoints.save_checkpoint
    predictions_sha256: str = ""
    file_size_bytes: int = 0
    schema_version: int = SCHEMA_VERSION
    calibration: CalibrationRecord | None = None

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
    return cls(**{name: _value(hints[name], value, f"{where}.{name}") for name, value in data.items()})


def _value(hint, value, where: str):
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    kind = options[0]
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where)
    base = typing.get_origin(kind) or kind
    if base is tuple:
        if not isinstance(value, list):
            raise CardError(f"{where} should be a list")
        return tuple(value)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise CardError(f"{where} should be {base.__name__}, not {type(value).__name__}")
    return value
