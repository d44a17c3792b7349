"""PneumoniaMNIST through medmnist: data-root resolution, in-memory split tensors and batched augmentation."""

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import medmnist
import numpy as np
import torch
import torch.nn.functional as F
from medmnist.info import DEFAULT_ROOT

DATA_ROOT_ENV = "PNEUMONIA_DATA_ROOT"
DATA_FILE = "pneumoniamnist.npz"
SPLITS = ("train", "val", "test")


class DataNotFoundError(RuntimeError):
    """The dataset file is missing and could not be downloaded."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 1, 28, 28) uint8
    labels: torch.Tensor  # (N,) float32, 1 = pneumonia

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> tuple[int, int]:
        pneumonia = int(self.labels.sum())
        return len(self) - pneumonia, pneumonia

    def head(self, n: int) -> "Split":
        return Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class Dataset:
    path: Path
    sha256: str
    splits: dict[str, Split]


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument if given, else $PNEUMONIA_DATA_ROOT, else medmnist's default (~/.medmnist)."""
    return Path(root or os.environ.get(DATA_ROOT_ENV) or DEFAULT_ROOT).expanduser()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_dataset(root: str | os.PathLike | None = None) -> Dataset:
    """Load all three splits; download only when the file is absent (medmnist would re-fetch a file whose MD5 differs)."""
    root = resolve_data_root(root)
    path = root / DATA_FILE
    if not path.exists():
        try:
            root.mkdir(parents=True, exist_ok=True)
            medmnist.PneumoniaMNIST(split="train", root=str(root), download=True)
        except Exception as error:  # medmnist wraps every network failure in a multi-line RuntimeError
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DataNotFoundError(
                f"PneumoniaMNIST is not at {path} and could not be downloaded ({reason}); "
                f"put {DATA_FILE} in that folder or point --data-root / ${DATA_ROOT_ENV} at the folder holding it."
            ) from error
    splits = {}
    for split in SPLITS:
        source = medmnist.PneumoniaMNIST(split=split, root=str(root), download=False)
        images = torch.from_numpy(np.ascontiguousarray(source.imgs)).unsqueeze(1)
        labels = torch.from_numpy(source.labels.reshape(-1).astype(np.float32))
        splits[split] = Split(images, labels)
    return Dataset(path=path, sha256=file_sha256(path), splits=splits)


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to float in [0, 1], the input every model takes."""
    return images.float().div_(255.0)


def augment(images: torch.Tensor, generator: torch.Generator, flip: bool = True, max_degrees: float = 10.0) -> torch.Tensor:
    """Per-image random horizontal flip (p=0.5) and rotation in ±max_degrees, as one batched affine warp.

    Works on the images' device; empty corners are filled with black, as torchvision's RandomRotation does.
    """
    n = images.shape[0]
    angles = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
    mirror = torch.ones(n)
    if flip:
        mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zeros = torch.zeros(n)
    # Rotation composed with an x-mirror: the sampling grid maps output pixels back to input pixels.
    theta = torch.stack([torch.stack([cos * mirror, -sin, zeros], 1), torch.stack([sin * mirror, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


_BLUR = torch.tensor([0.25, 0.5, 0.25])


def augment_xray(images: torch.Tensor, generator: torch.Generator, flip: bool = False, max_degrees: float = 10.0,
                 max_shift: float = 0.1, scale: float = 0.1, brightness: float = 0.1, contrast: float = 0.2,
                 gamma: float = 0.25, noise: float = 0.03, blur_probability: float = 0.2) -> torch.Tensor:
    """Augmentation that keeps a chest X-ray plausible: small rotation, shift (fraction of the half-width) and scale,
    optional mirror; then gamma, contrast and brightness, a slight blur for some images, and sensor-like noise.

    Edges are replicated rather than blackened, since a shifted radiograph continues past its border.
    """
    n, device = images.shape[0], images.device
    angles = _uniform(n, -1, 1, generator) * math.radians(max_degrees)
    zoom = _uniform(n, 1 - scale, 1 + scale, generator)
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    shift = _uniform(2 * n, -max_shift, max_shift, generator).view(2, n)
    cos, sin = torch.cos(angles) / zoom, torch.sin(angles) / zoom
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[0]], 1), torch.stack([sin * mirror, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta.to(device, images.dtype), list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)

    def per_image(values: torch.Tensor) -> torch.Tensor:
        return values.to(device, images.dtype).view(n, 1, 1, 1)

    x = x.pow(per_image(torch.exp(_uniform(n, -1, 1, generator) * math.log1p(gamma))))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * per_image(_uniform(n, 1 - contrast, 1 + contrast, generator)) + mean
    x = x + per_image(_uniform(n, -brightness, brightness, generator))
    kernel = (_BLUR[:, None] * _BLUR[None, :]).to(device, images.dtype).view(1, 1, 3, 3)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
    x = torch.where(per_image(torch.rand(n, generator=generator)) < blur_probability, blurred, x)
    sigma = per_image(_uniform(n, 0, noise, generator))
    x = x + sigma * torch.randn(x.shape, generator=generator).to(device, images.dtype)
    return x.clamp(0, 1)


def _gaussian_kernels(sigmas: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """(N, 1, 2r+1, 2r+1) normalised Gaussian kernels, one per sigma."""
    offsets = torch.arange(-radius, radius + 1, dtype=sigmas.dtype, device=sigmas.device)
    line = torch.exp(-offsets[None, :] ** 2 / (2 * sigmas[:, None] ** 2))
    line = line / line.sum(dim=1, keepdim=True)
    return (line[:, :, None] * line[:, None, :]).unsqueeze(1)


def augment_framing(images: torch.Tensor, generator: torch.Generator, zoom: tuple[float, float] = (0.75, 1.3),
                    max_shift_px: float = 3.0, max_degrees: float = 10.0, black_border_probability: float = 0.5,
                    gamma: float = 1.45, contrast: tuple[float, float] = (0.75, 1.33), brightness: float = 0.12,
                    blur_probability: float = 0.3, max_blur_sigma: float = 1.0, noise: float = 0.02,
                    aspect: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """Augmentation that spans, and a little exceeds, the perturbation suite (core.perturbations): zoom in and out
    (log-uniform), shifts in pixels, rotation; gamma (log-uniform in 1/gamma..gamma), contrast about the mean,
    brightness; Gaussian blur for some images; sensor-like noise. No flips: a mirrored chest puts the heart right.
    Given an aspect range, the content is also squeezed or stretched sideways (log-uniform width scale).

    Beyond the picture a looser frame shows black (as the suite, and a padded upload) for some images and the
    replicated edge (as a real radiograph continuing past the crop) for the others.
    """
    n, device = images.shape[0], images.device
    scale = torch.exp(_uniform(n, math.log(zoom[0]), math.log(zoom[1]), generator))
    angles = _uniform(n, -1, 1, generator) * math.radians(max_degrees)
    shift = _uniform(2 * n, -1, 1, generator).view(2, n) * max_shift_px / (images.shape[-1] / 2)  # to grid units
    cos, sin = torch.cos(angles) / scale, torch.sin(angles) / scale
    # the grid maps output to input: content moves by +shift, so the input is read at output - shift
    theta = torch.stack([torch.stack([cos, -sin, -shift[0]], 1), torch.stack([sin, cos, -shift[1]], 1)], 1)
    if aspect != (1.0, 1.0):  # drawn only then, so that the plain framing recipe's random stream is unchanged
        width_scale = torch.exp(_uniform(n, math.log(aspect[0]), math.log(aspect[1]), generator))
        theta[:, :, 0] = theta[:, :, 0] / width_scale[:, None]  # output x read at x / scale: content width × scale
    grid = F.affine_grid(theta.to(device, images.dtype), list(images.shape), align_corners=False)
    black = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    edge = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def per_image(values: torch.Tensor) -> torch.Tensor:
        return values.to(device, images.dtype).view(n, 1, 1, 1)

    x = torch.where(per_image(torch.rand(n, generator=generator)) < black_border_probability, black, edge).clamp(0, 1)
    x = x.pow(per_image(torch.exp(_uniform(n, -1, 1, generator) * math.log(gamma))))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * per_image(torch.exp(_uniform(n, math.log(contrast[0]), math.log(contrast[1]), generator))) + mean
    x = (x + per_image(_uniform(n, -brightness, brightness, generator))).clamp(0, 1)
    kernels = _gaussian_kernels(_uniform(n, 0.3, max_blur_sigma, generator)).to(device, images.dtype)
    blurred = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect").view(1, n, *[s + 6 for s in x.shape[-2:]]), kernels, groups=n).view_as(x)
    x = torch.where(per_image(torch.rand(n, generator=generator)) < blur_probability, blurred, x)
    x = x + per_image(_uniform(n, 0, noise, generator)) * torch.randn(x.shape, generator=generator).to(device, images.dtype)
    return x.clamp(0, 1)
