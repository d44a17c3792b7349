"""Predictions and Grad-CAM heatmaps for 28x28 images, through the grad-cam library (pytorch-grad-cam)."""

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget
from torch import nn


def image_batch(images: np.ndarray) -> torch.Tensor:
    """(28, 28) or (N, 28, 28) uint8 to the (N, 1, 28, 28) float [0, 1] batch every model takes."""
    batch = torch.from_numpy(np.array(images, dtype=np.uint8)).float().div(255.0)  # a copy: inputs may be read-only
    return batch.reshape(-1, 1, *batch.shape[-2:])


@torch.no_grad()
def pneumonia_probability(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Probability of pneumonia per image, computed exactly as the committed predictions (fp32 logit, float64 sigmoid)."""
    logits = model.eval()(image_batch(images)).squeeze(1)
    return torch.sigmoid(logits.double()).numpy()


def gradcam(model: nn.Module, image: np.ndarray, target_class: int) -> np.ndarray:
    """Grad-CAM of one 28x28 image for target_class (1: the logit, 0: minus the logit), scaled to [0, 1], 28x28."""
    with GradCAM(model=model.eval(), target_layers=[model.cam_layer()]) as cam:
        return cam(input_tensor=image_batch(image), targets=[BinaryClassifierOutputTarget(target_class)])[0]


def overlay(gray: np.ndarray, heatmap: np.ndarray, opacity: float) -> np.ndarray:
    """RGB uint8 image: the grey X-ray with the heatmap (resized to it) blended in at the given opacity."""
    base = np.repeat(gray[..., None].astype(np.float32) / 255.0, 3, axis=2)
    mask = cv2.resize(heatmap.astype(np.float32), (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(base, np.clip(mask, 0, 1), use_rgb=True, image_weight=1.0 - opacity)


@dataclass(frozen=True)
class Reading:
    """What one model says about one image, and where it looked to say it."""

    probability: float
    predicted_class: int  # at the threshold given to read()
    heatmap: np.ndarray  # Grad-CAM for the predicted class, 28x28 in [0, 1]


def read(model: nn.Module, image: np.ndarray, threshold: float) -> Reading:
    """Probability, decision at threshold, and the Grad-CAM that explains that decision."""
    probability = float(pneumonia_probability(model, image)[0])
    predicted = int(probability >= threshold)
    return Reading(probability, predicted, gradcam(model, image, predicted))
