"""Uploaded X-rays: decoded in memory (never written to disk), bounded in size, and reduced the way PneumoniaMNIST
was made. PNG, JPEG, TIFF, BMP, WebP, GIF and DICOM, recognised by their content, never by their name.

Memory stays bounded: the pixel count and bit depth are checked before pixels are decoded, big JPEGs are decoded
at a reduced scale, everything else is averaged down to a working size in bands of rows (so a 16-bit image never
becomes a full-size float copy), and at most two uploads are decoded at a time.
"""

import io
import math
import re
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pytorch_grad_cam.utils.image import show_cam_on_image

DATASET_SIZE = 28
MIN_SIDE = DATASET_SIZE  # the models read 28×28: anything smaller would have to be invented
MAX_PIXELS = 36_000_000  # 6000×6000: above any radiograph detector (43 cm at 0.1 mm is 4300 px), below a bomb
WORKING_SIDE = 2048  # long side kept after decoding: ample for the 28×28 input, the display and the report
MAX_BITS = 16
MAX_FILE_MB = 25  # one file's size; .streamlit/config.toml's server.maxUploadSize holds the same (a test checks)
RASTER_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF", "BMP": "BMP", "DIB": "BMP", "WEBP": "WebP", "GIF": "GIF"}
UNREADABLE = ("This file is not an image the app can read. It reads PNG, JPEG, TIFF, BMP, WebP, GIF and DICOM; "
              "please upload a chest X-ray in one of those.")
_DECODING = threading.BoundedSemaphore(2)  # uploads decoded at once, whatever the number of sessions


class ImageDecodeError(ValueError):
    """The bytes are not an image we can read; the message is one sentence meant for the user."""


@dataclass(frozen=True)
class DicomFacts:
    """Non-identifying facts from a DICOM header: what the image is, never whom it shows."""

    modality: str
    body_part: str
    view: str
    photometric: str
    rows: int
    columns: int
    frames: int
    bits_stored: int

    def rows_to_show(self) -> list[tuple[str, str]]:
        return [("Modality", self.modality or "not recorded"), ("Body part", self.body_part or "not recorded"),
                ("View", self.view or "not recorded"), ("Photometric interpretation", self.photometric),
                ("Size", f"{self.columns}×{self.rows} pixels, {self.bits_stored} bits"), ("Frames", str(self.frames))]


@dataclass(frozen=True)
class Decoded:
    grey: np.ndarray  # (H, W) uint8, long side at most WORKING_SIDE, transparent pixels filled from their surroundings
    format: str
    width: int  # as stored, before any reduction
    height: int
    bits: int  # bits per sample as stored
    frames: int = 1  # only the first is read
    colourfulness: float = 0.0  # share of clearly coloured pixels
    transparent_fraction: float = 0.0  # share of pixels that were transparent
    dicom: DicomFacts | None = None


def decode(data: bytes) -> Decoded:
    """Any supported image file's bytes to a Decoded image; ImageDecodeError with one sentence otherwise."""
    with _DECODING:
        if _looks_like_dicom(data):
            return _decode_dicom(data)
        return _decode_raster(data)


def _looks_like_dicom(data: bytes) -> bool:
    """A DICOM preamble ("DICM" at 128), or a preamble-less file starting with a group 0002 or 0008 element."""
    if data[128:132] == b"DICM":
        return True
    if len(data) <= 8:
        return False
    little = int.from_bytes(data[:2], "little") in (0x0002, 0x0008) and int.from_bytes(data[2:4], "little") < 0x0100
    big = data[:2] == b"\x00\x08" and int.from_bytes(data[2:4], "big") < 0x0100  # no File Meta, Explicit VR Big Endian
    return little or big


def _check_size(width: int, height: int, bits: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(f"The image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); the app reads "
                               f"images up to {MAX_PIXELS / 1e6:.0f} megapixels, far more than any chest X-ray needs.")
    if bits > MAX_BITS:
        raise ImageDecodeError(f"The image has {bits} bits per pixel; the app reads up to {MAX_BITS}.")


def _reduce(array: np.ndarray, factor: int, transform=None) -> np.ndarray:
    """float32 mean over factor×factor blocks (area averaging), applying transform to one band of rows at a time."""
    height, width = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    out = np.empty((height // factor, width // factor), np.float32)
    band = factor * max(1, 256 // factor)
    for top in range(0, height, band):
        rows = array[top:top + band, :width]
        rows = (transform(rows) if transform else rows).astype(np.float32)
        out[top // factor:(top + rows.shape[0]) // factor] = rows.reshape(-1, factor, width // factor, factor).mean((1, 3))
    return out


def _stretch(values: np.ndarray) -> np.ndarray:
    """Full range to 8 bits (high-bit-depth images are stretched rather than clipped)."""
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _reduction(width: int, height: int) -> int:
    """The block size that brings the long side to WORKING_SIDE, without taking the short side below MIN_SIDE."""
    return max(1, min(math.ceil(max(width, height) / WORKING_SIDE), min(width, height) // MIN_SIDE))


def _decode_raster(data: bytes) -> Decoded:
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as error:
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(pixels.group(1)) / 1e6:.0f} megapixels)" if pixels else ""
        raise ImageDecodeError(f"The image is far too large{size}; the app reads images up to {MAX_PIXELS / 1e6:.0f} megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageDecodeError(UNREADABLE) from None
    with image:
        if image.format not in RASTER_FORMATS:
            raise ImageDecodeError(f"This is an image in the {image.format} format, which the app does not read. " + UNREADABLE.split(". ", 1)[1])
        name, width, height = RASTER_FORMATS[image.format], image.width, image.height
        bits = 16 if image.mode.startswith("I;16") or image.mode == "I" else 32 if image.mode == "F" else 8
        _check_size(width, height, bits)
        frames = getattr(image, "n_frames", 1)
        try:
            if name == "JPEG":
                image.draft(image.mode, (WORKING_SIDE, WORKING_SIDE))  # decode a big JPEG at 1/2, 1/4 or 1/8 scale
            image.load()  # the first frame only
            ImageOps.exif_transpose(image, in_place=True)  # in place: no second full-size copy
            grey, colourfulness, alpha = _pixels(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            raise ImageDecodeError("This image file is damaged or cut short, and cannot be read; please upload it again.") from None
    grey, transparent = _fill_transparent(grey, alpha)
    return Decoded(grey, name, width, height, bits, frames, colourfulness, transparent)


def _pixels(image: Image.Image) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Grey uint8 at working size, the share of clearly coloured pixels, and the alpha channel if any."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image)
        return _stretch(_reduce(values, _reduction(image.width, image.height))), 0.0, None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):  # palette, 1-bit, ...: expand first
        image = image.convert("RGBA" if has_alpha else "RGB")
    factor = _reduction(image.width, image.height)
    small = image.reduce(factor) if factor > 1 else image
    alpha = np.asarray(small.getchannel("A")) if has_alpha and "A" in small.getbands() else None
    if has_alpha and alpha is None:  # a transparent colour key rather than an alpha channel
        alpha = np.asarray(small.convert("RGBA").getchannel("A"))
    colourfulness = 0.0
    if small.mode not in ("L", "LA"):
        colourfulness = _colourfulness(np.asarray(small.convert("RGB")))
    return np.asarray(small.convert("L")), colourfulness, alpha


def _colourfulness(rgb: np.ndarray) -> float:
    """The share of clearly coloured pixels (saturation and brightness both well above grey and black), RGB uint8."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    return float(np.mean((hsv[..., 1] > 64) & (hsv[..., 2] > 40)))


def _fill_transparent(grey: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Crop to the opaque pixels and fill transparent ones inside from their surroundings (OpenCV inpainting), so
    transparent pixels change nothing; returns the image and the share of pixels that were transparent."""
    if alpha is None:
        return grey, 0.0
    opaque = alpha >= 128
    if not opaque.any():
        raise ImageDecodeError("This image is fully transparent: there is nothing to read.")
    transparent = float(1 - opaque.mean())
    rows, columns = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    crop = np.s_[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    grey, holes = grey[crop], ~opaque[crop]
    if holes.any():
        grey = cv2.inpaint(np.ascontiguousarray(grey), holes.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return np.ascontiguousarray(grey), transparent


CHEST_MODALITIES = {"CR", "DX", "RG"}  # computed and digital radiography


def _text(ds, keyword: str) -> str:
    """A header value as short printable text (allow-listed keywords only: never patient data)."""
    value = ds.get(keyword)
    return "".join(c for c in str(value if value is not None else "")[:32] if c.isprintable()).strip()


def _infer_transfer_syntax(ds) -> None:
    """Give a data set without a Transfer Syntax UID (no File Meta, as older archives hold) the one it was read in."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    if ds.file_meta.get("TransferSyntaxUID"):
        return
    # pydicom guessed the encoding while reading; an encapsulated (compressed) image cannot be guessed and fails later
    syntax = {(True, True): ImplicitVRLittleEndian, (False, True): ExplicitVRLittleEndian,
              (False, False): ExplicitVRBigEndian}.get(ds.original_encoding)
    if syntax is not None:
        ds.file_meta.TransferSyntaxUID = syntax


def _decode_dicom(data: bytes) -> Decoded:
    import pydicom  # only for DICOM uploads
    from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        rows, columns = int(ds.Rows), int(ds.Columns)
    except Exception:  # noqa: BLE001  (pydicom raises many kinds; the user needs one sentence, not its message)
        if "ds" in locals() and "PixelData" not in ds:
            raise ImageDecodeError("This DICOM file holds no image (no pixel data): it may be a report or a structured document.") from None
        raise ImageDecodeError("This DICOM file is damaged and cannot be read.") from None
    if not any(keyword in ds for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ImageDecodeError("This DICOM file holds no image (no pixel data): it may be a report or a structured document.")
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 0)
    _check_size(columns, rows, max(bits, int(ds.get("BitsAllocated") or 0)))
    facts = DicomFacts(_text(ds, "Modality"), _text(ds, "BodyPartExamined"), _text(ds, "ViewPosition"),
                       _text(ds, "PhotometricInterpretation"), rows, columns, int(ds.get("NumberOfFrames") or 1), bits)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)  # as the file declares it
    try:
        _infer_transfer_syntax(ds)
        frame = pixel_array(ds, index=0)  # the first frame only, whatever the transfer syntax (pylibjpeg plugins)
    except Exception:  # noqa: BLE001
        name = f" ({syntax.name})" if syntax is not None else ""
        raise ImageDecodeError(f"The image inside this DICOM file could not be decoded{name}.") from None
    factor = _reduction(columns, rows)
    if frame.ndim == 3:  # colour (RGB after pydicom's YBR conversion): grey, and let the gate see the colour
        sample = frame[::factor, ::factor].astype(np.float32)
        colourfulness = _colourfulness(np.round(sample * (255 / max(float(sample.max()), 1))).astype(np.uint8))
        grey = _stretch(_reduce(frame, factor, lambda band: band.mean(axis=2)))
    else:
        # Modality LUT or rescale slope/intercept, then the VOI LUT or window (else the full range), row band by band
        colourfulness = 0.0
        grey = _stretch(_reduce(frame, factor, lambda band: apply_voi_lut(apply_modality_lut(band, ds), ds)))
        if facts.photometric == "MONOCHROME1":  # 0 is white: turn it the usual way round
            grey = 255 - grey
    return Decoded(grey, "DICOM", columns, rows, bits, facts.frames, colourfulness, 0.0, facts)


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
