"""Uploaded X-rays: decode in memory (never written to disk) and reduce them the way PneumoniaMNIST was made."""

import io

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pytorch_grad_cam.utils.image import show_cam_on_image

DATASET_SIZE = 28
MAX_PIXELS = 60_000_000  # far above any radiograph, well below a decompression bomb


class ImageDecodeError(ValueError):
    """The bytes are not an image we can read; the message is meant for the user."""


def decode_grayscale(data: bytes) -> np.ndarray:
    """PNG/JPEG (8- or 16-bit, grey or colour) bytes to an (H, W) uint8 grey image, EXIF rotation applied."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageDecodeError(f"The image is {image.width}×{image.height} pixels, too large to be a chest X-ray.")
            image = ImageOps.exif_transpose(image)
            image.load()
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageDecodeError("This file is not a PNG or JPEG image that can be read; please upload a chest X-ray image.") from error
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit/float: stretch to 8 bits rather than clip
        values = np.asarray(image, dtype=np.float64)
        low, high = values.min(), values.max()
        return np.zeros(values.shape, np.uint8) if high == low else np.round((values - low) / (high - low) * 255).astype(np.uint8)
    return np.asarray(image.convert("L"))


def centre_crop_square(image: np.ndarray) -> np.ndarray:
    height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top:top + side, left:left + side]


def to_dataset_image(image: np.ndarray, size: int = DATASET_SIZE) -> np.ndarray:
    """Centre-crop to the short side, then shrink with an anti-aliased (area-averaging) resize, as MedMNIST did."""
    square = Image.fromarray(centre_crop_square(image))
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR))  # Pillow filters when it shrinks


def display_image(image: np.ndarray, size: int = 448) -> np.ndarray:
    """The centre square the models see, at a size worth looking at (for overlays and the page)."""
    return np.asarray(Image.fromarray(centre_crop_square(image)).resize((size, size), Image.Resampling.BILINEAR))


def overlay(gray: np.ndarray, heatmap: np.ndarray, opacity: float) -> np.ndarray:
    """RGB uint8 image: the grey X-ray with the heatmap (resized to it) blended in at the given opacity."""
    base = np.repeat(gray[..., None].astype(np.float32) / 255.0, 3, axis=2)
    mask = cv2.resize(heatmap.astype(np.float32), (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(base, np.clip(mask, 0, 1), use_rgb=True, image_weight=1.0 - opacity)
