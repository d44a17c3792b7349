"""The classifiers. Each takes (N, 1, 28, 28) images in [0, 1] and returns one pneumonia logit (N, 1).

Each model does its own input normalisation (and, for the 224-pixel ResNet-18, the batched resize on whatever
device it runs on), so training, evaluation, the app and Grad-CAM all feed it the same thing. Each splits its
forward pass at the Grad-CAM layer (forward_features, then forward_head), so Grad-CAM needs no hooks.
"""

import hashlib
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from core.cards import Card
from core.registry import spec

WEIGHTS_FILE_ENV = "RESNET18_WEIGHTS"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        _conv_bn_relu(in_channels, out_channels),
        _conv_bn_relu(out_channels, out_channels),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
    )


class CustomCNN(nn.Module):
    """Report Table 2: three blocks of two 3x3 conv+BN+ReLU, max-pool, dropout; classifier 1152→256→128→1.

    615,521 trainable parameters: the table's column sums to 614,625 because it leaves out BatchNorm's 896.
    """

    input_size = 28

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(_conv_block(1, 32), _conv_block(32, 64), _conv_block(64, 128))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, 256), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(128, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Up to the last conv+BN+ReLU of block 3 (features.2.1): 7x7 maps, the finest that carry the deepest features."""
        return self.features[2][:2](self.features[:2]((images - 0.5) / 0.5))

    def forward_head(self, maps: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features[2][2:](maps))


class ResNet18Classifier(nn.Module):
    """torchvision ResNet-18 with fc replaced by Dropout(0.5) + Linear(512→1); grey replicated to 3 channels, ImageNet-normalised.

    input_size=224 (the report): 28x28 upsampled to 224x224. small_stem=True (for 28x28 as it is): a 3x3 stride-1
    first convolution and no max-pool, so the 28 pixels are not thrown away in the first two layers.
    """

    def __init__(self, input_size: int = 224, small_stem: bool = False):
        super().__init__()
        self.input_size = input_size
        self.backbone = resnet18()
        if small_stem:
            self.backbone.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.backbone.maxpool = nn.Identity()
        self.backbone.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.backbone_frozen = False

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Up to the last residual block (backbone.layer4.1): 7x7 maps at 224 pixels."""
        if images.shape[-1] != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode="bilinear", align_corners=False)
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1((images.expand(-1, 3, -1, -1) - self.mean) / self.std))))
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))

    def forward_head(self, maps: torch.Tensor) -> torch.Tensor:
        return self.backbone.fc(torch.flatten(self.backbone.avgpool(maps), 1))

    def freeze_backbone(self, frozen: bool) -> None:
        """Train only the new head (stage 1 of the report's fine-tuning) or everything (stage 2)."""
        self.backbone_frozen = frozen
        for name, parameter in self.backbone.named_parameters():
            parameter.requires_grad = not frozen or name.startswith("fc.")
        self.train(self.training)

    def train(self, mode: bool = True) -> "ResNet18Classifier":
        super().train(mode)
        if self.backbone_frozen:  # a frozen backbone keeps its ImageNet BatchNorm statistics too
            for name, child in self.backbone.named_children():
                child.train(mode and name == "fc")
        return self


class SeedEnsemble(nn.Module):
    """Several copies of one architecture, each trained on its own seed; the logit is their mean.

    Its feature map stacks the members' maps along channels and its head averages the members' heads, so Grad-CAM
    of the ensemble is Grad-CAM of the mean logit over every member's last layer.
    """

    def __init__(self, member: str, count: int, **options):
        super().__init__()
        self.member, self.options = member, dict(options)
        self.members = nn.ModuleList(self.new_member() for _ in range(count))

    def new_member(self) -> nn.Module:
        return build_model(self.member, self.options)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([member.forward_features(images) for member in self.members], dim=1)

    def forward_head(self, maps: torch.Tensor) -> torch.Tensor:
        parts = maps.chunk(len(self.members), dim=1)
        return torch.stack([member.forward_head(part) for member, part in zip(self.members, parts)]).mean(dim=0)


class FramingAverage(nn.Module):
    """Test-time augmentation: a network that reads each image at every framing and exposure of the upload framing
    check (core.perturbations.FRAMING_CHECK, applied to the 28×28 it is given) and averages the logits.

    Its feature map stacks the framings' maps along channels and its head averages their heads, so Grad-CAM is that
    of the averaged logit; the framings differ by at most a sixth of the image, under one cell of a 4×4 map. It is
    trained as the network it wraps (train.py), without the framings.
    """

    def __init__(self, model: str, **options):
        super().__init__()
        self.model, self.options = model, dict(options)
        self.base = build_model(model, options)

    def framed(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) in [0, 1] to (F·N, 1, 28, 28), framing by framing (the pixels are uint8 / 255, so exact)."""
        from core.perturbations import FRAMING_CHECK

        pixels = (images[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
        framed = np.stack([p.apply(image) for p in FRAMING_CHECK for image in pixels])
        return torch.from_numpy(framed).to(images.device, images.dtype).div(255).unsqueeze(1)

    @staticmethod
    def stack_framings(maps: torch.Tensor, count: int) -> torch.Tensor:
        """The base network's maps of F·N framed images (framing by framing) to (N, F·C, h, w): each image's framings side by side."""
        return torch.cat(maps.chunk(len(maps) // count, dim=0), dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.stack_framings(self.base.forward_features(self.framed(images)), len(images))

    def framing_logits(self, maps: torch.Tensor) -> torch.Tensor:
        """(F, N, 1): the base network's logit at each framing, which the head averages."""
        from core.perturbations import FRAMING_CHECK

        return torch.stack([self.base.forward_head(part) for part in maps.chunk(len(FRAMING_CHECK), dim=1)])

    def forward_head(self, maps: torch.Tensor) -> torch.Tensor:
        return self.framing_logits(maps).mean(dim=0)


ARCHITECTURES = {cls.__name__: cls for cls in (CustomCNN, ResNet18Classifier, SeedEnsemble, FramingAverage)}


def build_model(architecture: str, options: Mapping) -> nn.Module:
    """A fresh (randomly initialised) network: a class of this module and its keyword arguments."""
    return ARCHITECTURES[architecture](**options)


def new_model(name: str) -> nn.Module:
    """A fresh network for a registry entry (what train.py trains)."""
    entry = spec(name)
    return build_model(entry.architecture, entry.options)


def weights_to_bytes(model: nn.Module) -> bytes:
    return save_safetensors({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def model_from_bytes(card: Card, weights: bytes) -> nn.Module:
    """The network the card describes, with safetensors weights (no unpickling), in eval mode on the CPU."""
    model = build_model(card.architecture, card.architecture_options)
    model.load_state_dict(load_safetensors(weights))
    return model.eval()


def count_trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_imagenet_weights(model: ResNet18Classifier, weights_file: str | os.PathLike | None = None) -> dict:
    """Load ImageNet weights into the backbone from a local file (argument or $RESNET18_WEIGHTS) or torchvision's API.

    Returns a record of the source for the card; raises OSError/RuntimeError when none can be had.
    """
    weights_file = weights_file or os.environ.get(WEIGHTS_FILE_ENV)
    if weights_file:
        path = Path(weights_file).expanduser()
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        # torchvision names its files <arch>-<sha256 prefix>.pth; check the prefix as torchvision does.
        prefix = path.stem.rsplit("-", 1)[-1]
        if "-" in path.stem and all(c in "0123456789abcdef" for c in prefix) and not sha256.startswith(prefix):
            raise RuntimeError(f"{path.name}: sha256 {sha256[:12]}… does not match the prefix in its name")
        state = torch.load(path, map_location="cpu", weights_only=True)
        source = {"source": "local file", "file": path.name, "sha256": sha256}
    else:
        state = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        source = {"source": "torchvision", "weights": "ResNet18_Weights.IMAGENET1K_V1"}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the 1000-class head is replaced
    missing, unexpected = model.backbone.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("fc.") for k in missing):
        raise RuntimeError(f"not a ResNet-18 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return source
