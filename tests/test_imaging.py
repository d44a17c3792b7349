"""The upload path: decoding in memory, and reducing to 28x28 the way PneumoniaMNIST was made."""

import io

import numpy as np
import pytest
from PIL import Image

from core import imaging
from core.imaging import ImageDecodeError, centre_crop_square, decode_grayscale, to_dataset_image
from tests.conftest import FIXTURES, REAL_DATA_ROOT

# ../shared/fixtures/cxr/README.md: full-resolution source images and their index in the training split
FIXTURE_IMAGES = {"kermany_NORMAL2-IM-1430-0001.jpeg": 1258, "kermany_person1951_bacteria_4882.jpeg": 4424}


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.skipif(not FIXTURES.exists() or not (REAL_DATA_ROOT / "pneumoniamnist.npz").exists(), reason="needs ../shared fixtures and data")
@pytest.mark.parametrize("file_name", FIXTURE_IMAGES)
def test_full_resolution_xray_becomes_its_dataset_image(file_name):
    dataset_image = np.load(REAL_DATA_ROOT / "pneumoniamnist.npz")["train_images"][FIXTURE_IMAGES[file_name]].astype(float)
    original = decode_grayscale((FIXTURES / file_name).read_bytes())
    ours = to_dataset_image(original).astype(float)
    assert ours.shape == (28, 28)
    assert np.abs(ours - dataset_image).mean() < 3.5  # the fixture README: "within about 3 grey levels"
    no_antialiasing = np.asarray(Image.fromarray(centre_crop_square(original)).resize((28, 28), Image.Resampling.NEAREST), float)
    assert np.abs(ours - dataset_image).mean() < np.abs(no_antialiasing - dataset_image).mean() / 2


def test_centre_crop_keeps_the_middle_of_the_long_side():
    image = np.zeros((100, 300), np.uint8)
    image[:, 100:200] = 255
    assert centre_crop_square(image).shape == (100, 100) and centre_crop_square(image).min() == 255
    assert centre_crop_square(image.T).shape == (100, 100)


def test_colour_jpeg_decodes_to_grey():
    data = _encoded(Image.new("RGB", (40, 30), (200, 200, 200)), "JPEG")
    grey = decode_grayscale(data)
    assert grey.shape == (30, 40) and grey.dtype == np.uint8 and abs(int(grey.mean()) - 200) <= 2


def test_sixteen_bit_png_is_stretched_not_clipped():
    values = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit detector range
    grey = decode_grayscale(_encoded(Image.fromarray(values), "PNG"))
    assert grey.min() == 0 and grey.max() == 255 and len(np.unique(grey)) > 200


def test_exif_orientation_is_applied():
    image = Image.new("L", (60, 20), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees to display
    assert decode_grayscale(_encoded(image, "JPEG", exif=exif)).shape == (60, 20)


@pytest.mark.parametrize("payload", [b"", b"plain text", b"\x89PNG\r\n\x1a\n\x00\x00 truncated", b"\xff\xd8\xff\xe0 broken jpeg"])
def test_non_images_raise_a_readable_error(payload):
    with pytest.raises(ImageDecodeError, match="not a PNG or JPEG image"):
        decode_grayscale(payload)


def test_implausibly_large_images_are_refused(monkeypatch):
    monkeypatch.setattr(imaging, "MAX_PIXELS", 100)
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_grayscale(_encoded(Image.new("L", (20, 20)), "PNG"))
