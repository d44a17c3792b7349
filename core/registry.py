"""Every model the project knows, one entry each: name, display name, architecture, input, training recipe,
colour and Grad-CAM layer. Adding a model is one entry here plus a `train.py` run; no other file names a model.

Torch-free on purpose: the app's first page reads the registry and the cards without importing torch.
"""

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Stage:
    """One training stage: epochs at a learning rate, optionally with the pretrained backbone frozen."""

    name: str
    epochs: int
    lr: float
    freeze_backbone: bool = False


@dataclass(frozen=True)
class ModelSpec:
    name: str  # checkpoints/<name>/, the key everywhere
    display_name: str
    architecture: str  # a class in core.models
    input: str  # what the network itself sees, in words
    stages: tuple[Stage, ...]
    batch_size: int
    colour: str
    cam_layer: str  # module path(s) whose output Grad-CAM reads, where forward_features ends ("*": every member's, stacked;
    # a FramingAverage: its layer's output for every framing, stacked)
    description: str
    options: Mapping = field(default_factory=lambda: MappingProxyType({}))  # keyword arguments of the class
    training: Mapping = field(default_factory=lambda: MappingProxyType({}))  # TrainConfig fields that differ from the report
    imagenet: bool = False  # start from ImageNet weights when they can be had
    warm_start: str = ""  # start from this registry model's committed weights (same architecture), not at random
    report_baseline: bool = False  # the report's own recipe, kept as the baseline


def _frozen(**values) -> Mapping:
    return MappingProxyType(values)


REGISTRY: Mapping[str, ModelSpec] = MappingProxyType({spec.name: spec for spec in (
    ModelSpec(
        name="cnn", display_name="Custom CNN", architecture="CustomCNN", input="1×28×28 grey",
        stages=(Stage("train", 25, 1e-3),), batch_size=128, colour="#2b6777", cam_layer="features.2.1",
        description="The report's small CNN (three conv blocks, 615,521 parameters), trained from scratch.",
        report_baseline=True,
    ),
    ModelSpec(
        name="resnet18", display_name="ResNet-18", architecture="ResNet18Classifier",
        input="3×224×224 (28×28 grey upsampled, replicated)",
        stages=(Stage("frozen_backbone", 10, 1e-3, freeze_backbone=True), Stage("fine_tune", 15, 1e-4)),
        batch_size=32, colour="#c26d3a", cam_layer="backbone.layer4.1",
        description="The report's ResNet-18: 28×28 upsampled to 224×224, new one-logit head, two-stage fine-tuning.",
        imagenet=True, report_baseline=True,
    ),
    ModelSpec(
        name="cnn_noflip_x5", display_name="CNN ×5, no flips", architecture="SeedEnsemble", input="1×28×28 grey",
        stages=(Stage("train", 25, 1e-3),), batch_size=128, colour="#3a8f5c", cam_layer="members.*.features.2.1",
        description="Five of the report's CNNs (seeds 0-4) trained without horizontal flips, a flipped chest X-ray "
                    "putting the heart on the right; their mean logit. Chosen by the experiments' validation rule.",
        options=_frozen(member="CustomCNN", count=5), training=_frozen(flip=False),
    ),
    ModelSpec(
        name="resnet18_28", display_name="ResNet-18 (28 px)", architecture="ResNet18Classifier", input="3×28×28 (grey replicated)",
        stages=(Stage("train", 30, 1e-3),), batch_size=128, colour="#6c5b7b", cam_layer="backbone.layer4.1",
        description="ResNet-18 adapted to 28×28 input (3×3 stride-1 stem, no max-pool), trained from scratch.",
        options=_frozen(input_size=28, small_stem=True),
    ),
    ModelSpec(
        name="resnet18_28_framing", display_name="ResNet-18 (28 px), framing-robust", architecture="FramingAverage",
        input="1×28×28 grey, read at 7 framings and exposures and averaged", stages=(Stage("train", 30, 1e-3),), batch_size=128,
        colour="#8e3b6b", cam_layer="base.backbone.layer4.1",
        description="ResNet-18 adapted to 28×28 (3×3 stride-1 stem, no max-pool), trained from scratch with augmentation that "
                    "spans how real X-rays are framed and exposed; it reads each image at seven framings and exposures and "
                    "averages them. Chosen by the experiments' rule on validation under the perturbation suite.",
        options=_frozen(model="ResNet18Classifier", input_size=28, small_stem=True),
        training=_frozen(augmentation="framing", flip=False, schedule="cosine", select_metric="last"),
    ),
    ModelSpec(
        name="resnet18_28_aspect", display_name="ResNet-18 (28 px), framing- and aspect-robust", architecture="FramingAverage",
        input="1×28×28 grey, read at 7 framings and exposures and averaged", stages=(Stage("train", 1, 3e-4),), batch_size=128,
        colour="#b07d2b", cam_layer="base.backbone.layer4.1",
        description="The framing-robust ResNet-18 (28 px) trained one more epoch with the content also squeezed or stretched "
                    "sideways, as pipelines that resize X-rays to a square without keeping the aspect ratio do: the candidate of the "
                    "experiments' rule extended to aspect changes (benchmarks/experiments.md).",
        options=_frozen(model="ResNet18Classifier", input_size=28, small_stem=True),
        training=_frozen(augmentation="framing_aspect", flip=False, schedule="cosine", select_metric="last"),
        warm_start="resnet18_28_framing",
    ),
)})


class UnknownModelError(KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r}; the registry knows {', '.join(REGISTRY)}"


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name) from None
