"""A training recipe: every option of a run, in one frozen record that the card stores as it is. Torch-free, so
cards (and the app's first page) can hold one without importing torch. Defaults are the report's."""

from dataclasses import dataclass, fields

from core.registry import ModelSpec, Stage

AUGMENTATIONS = ("report", "xray", "framing", "framing_aspect")


@dataclass(frozen=True)
class TrainConfig:
    stages: tuple[Stage, ...]
    batch_size: int
    weight_factor: float = 0.5
    weight_decay: float = 1e-4
    schedule: str = "plateau"  # "plateau": the report's ReduceLROnPlateau on validation loss; "cosine": per step to 0 in each stage
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    augmentation: str = "report"  # "report": flip + rotation; "xray": also intensity, shift, scale, blur and noise;
    # "framing": the perturbation suite's range of framing, shift, rotation and exposure, and more (core.data.augment_framing);
    # "framing_aspect": the same, with the content squeezed or stretched sideways (core.training.ASPECT_RANGE)
    flip: bool = True
    max_rotation_degrees: float = 10.0
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    balanced_sampling: bool = False  # draw each batch half normal, half pneumonia (the loss weight then sees 1:1)
    ema_decay: float = 0.0  # > 0: validate and keep an exponential moving average of the weights
    seed: int = 0
    amp: bool = False  # bf16 autocast for training and per-epoch validation; final predictions are always fp32
    select_metric: str = "val_auc"  # or "val_loss" (lowest), or "last" (the final epoch)

    def __post_init__(self):
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.augmentation!r}; known: {', '.join(AUGMENTATIONS)}")
        if self.augmentation.startswith("framing") and self.flip:
            raise ValueError(f"augmentation={self.augmentation} never flips (a mirrored chest puts the heart on the right): set flip=False")

    @classmethod
    def for_model(cls, entry: ModelSpec, **overrides) -> "TrainConfig":
        """The registry entry's recipe (its stages, batch size and training fields), then overrides."""
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{"stages": entry.stages, "batch_size": entry.batch_size} | dict(entry.training) | overrides)
