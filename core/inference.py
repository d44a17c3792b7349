"""The one route from uint8 images to probabilities and Grad-CAM heatmaps: evaluation, the app, benchmarks and
tests all come through here.

Safe for many threads over one shared model: the model is loaded in eval mode with requires_grad off, so a
reading changes nothing on it (no hooks, no parameter gradients, no BatchNorm statistics). Grad-CAM is the
grad-cam library's algorithm (channel weights = mean gradient; ReLU of the weighted sum; its own scaling),
with the gradient taken by torch.autograd.grad of the logit with respect to the feature map the model returns.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pytorch_grad_cam.utils.image import scale_cam_image
from torch import nn

from core.checkpoints import Checkpoint
from core.imaging import DATASET_SIZE
from core.metrics import is_positive
from core.models import model_from_bytes


def load_model(checkpoint: Checkpoint) -> nn.Module:
    """The checkpoint's model, its weights checked against the card, in eval mode and read-only (no gradients)."""
    return model_from_bytes(checkpoint.card, checkpoint.weights()).requires_grad_(False)


def image_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(28, 28), (N, 28, 28) or (N, 1, 28, 28) uint8 to the (N, 1, 28, 28) float [0, 1] batch every model takes."""
    if not isinstance(images, torch.Tensor):
        images = torch.from_numpy(np.array(images, dtype=np.uint8))  # a copy: inputs may be read-only
    return images.float().div(255.0).reshape(-1, 1, *images.shape[-2:])


def probabilities(logits: torch.Tensor) -> np.ndarray:
    """float64 sigmoid of fp32 logits: keeps confident cases distinct instead of rounding them to 1.0."""
    return torch.sigmoid(logits.double()).numpy()


@torch.no_grad()
def predict_logits(model: nn.Module, images, device: torch.device | str = "cpu", batch_size: int = 256, amp: bool = False) -> torch.Tensor:
    """fp32 logits (N,) for uint8 images, in eval mode; amp: bf16 autocast (per-epoch validation only)."""
    device = torch.device(device)
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = image_batch(images[start:start + batch_size]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            outputs.append(model(batch).float().squeeze(1).cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


def predictions_frame(model: nn.Module, splits: dict, device: torch.device | str = "cpu") -> pd.DataFrame:
    """One row per image of each split given (name -> core.data.Split): split, index, label, fp32 logit and probability."""
    frames = []
    for split, data in splits.items():
        logits = predict_logits(model, data.images, device)
        frames.append(pd.DataFrame({
            "split": split,
            "index": np.arange(len(data)),
            "label": data.labels.numpy().astype(int),
            "logit": logits.numpy(),
            "probability": probabilities(logits),
        }))
    return pd.concat(frames, ignore_index=True)


def _logits_gradients(model: nn.Module, maps: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The head's logits from feature maps, and the gradient of each image's logit with respect to its own maps."""
    with torch.enable_grad():
        maps = maps.detach().requires_grad_(True)
        logits = model.forward_head(maps)[:, 0]
        (gradients,) = torch.autograd.grad(logits.sum(), maps)
    return logits.detach(), gradients.numpy()


def _maps_logits_gradients(model: nn.Module, batch: torch.Tensor) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """Feature maps, logits, and the gradient of each image's logit with respect to its own maps (one backward pass)."""
    with torch.no_grad():
        maps = model.forward_features(batch)
    logits, gradients = _logits_gradients(model, maps)
    return maps.numpy(), logits, gradients


def _cams(maps: np.ndarray, gradients: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The grad-cam library's GradCAM from activations and gradients, scaled exactly as it scales (twice)."""
    weights = np.mean(gradients, axis=(2, 3))
    cam = np.maximum((weights[:, :, None, None] * maps).sum(axis=1), 0)
    per_layer = scale_cam_image(cam, size)[:, None, :]
    return scale_cam_image(np.mean(np.maximum(per_layer, 0), axis=1))


def gradcam(model: nn.Module, images, target_classes) -> np.ndarray:
    """Grad-CAM (N, 28, 28) in [0, 1] for each image's target class (1: the logit, 0: minus the logit)."""
    batch = image_batch(images)
    maps, _, gradients = _maps_logits_gradients(model, batch)
    signs = np.where(np.asarray(target_classes).reshape(-1) == 1, 1, -1).astype(np.float32)
    return _cams(maps, gradients * signs[:, None, None, None], tuple(batch.shape[-1:-3:-1]))


@dataclass(frozen=True)
class Reading:
    """What one model says about one image, and where it looked to say it."""

    logit: float  # fp32, as the model gave it: recalibration starts here
    probability: float
    predicted_class: int  # at the threshold given to read()
    heatmap: np.ndarray  # Grad-CAM for the predicted class, 28x28 in [0, 1]


def read(model: nn.Module, image: np.ndarray, threshold: float) -> Reading:
    """Probability, decision at threshold, and the Grad-CAM that explains that decision, from one forward/backward."""
    with torch.no_grad():
        maps = model.forward_features(image_batch(image))
    return read_maps(model, maps, threshold)[0]


def read_maps(model: nn.Module, maps: torch.Tensor, threshold: float) -> tuple[Reading, np.ndarray]:
    """The first image's Reading from a batch's feature maps (the head, the logit's gradient, Grad-CAM), and every
    image's fp32 logit: a framing check reads the rest of the batch for the cost of the head alone."""
    logits, gradients = _logits_gradients(model, maps)
    probability = float(probabilities(logits[:1])[0])
    predicted = int(is_positive(probability, threshold))
    sign = 1.0 if predicted else -1.0  # the gradient of minus the logit is exactly minus the gradient
    heatmap = _cams(maps[:1].numpy(), gradients[:1] * np.float32(sign), (DATASET_SIZE, DATASET_SIZE))[0]
    return Reading(float(logits[0]), probability, predicted, heatmap), logits.numpy()
