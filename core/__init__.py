"""Pneumonia X-ray Explorer: models, data, training, metrics, Grad-CAM and figures for PneumoniaMNIST."""

from core import torchvision_compat

TORCHVISION_SHIM_ACTIVE = torchvision_compat.install()
