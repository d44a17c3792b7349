"""The dataset-derived files the app ships so that it runs without the dataset (written by scripts/build_assets.py,
from PneumoniaMNIST, MedMNIST v2, CC BY 4.0). Torch-free."""

from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TEST_IMAGES = ASSETS / "pneumoniamnist_test.npz"  # the 624 test images at 28×28 and their labels
OOD_REFERENCE = ASSETS / "ood_reference.npz"  # the upload gate's reference (core.ood)


def load_test_images() -> tuple[np.ndarray, np.ndarray]:
    """The shipped test images (624, 28, 28) uint8 and labels (624,), in the order of the test predictions."""
    with np.load(TEST_IMAGES) as data:
        return data["images"], data["labels"]
