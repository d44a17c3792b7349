"""The upload path: every format decoded in memory, by content, bounded; reduced to 28x28 as PneumoniaMNIST was made."""

import numpy as np
import pytest
from PIL import Image

from core import imaging
from core.imaging import ImageDecodeError, centre_crop_square, decode, to_dataset_image
from tests.conftest import FIXTURES, REAL_DATA_ROOT
from tests.uploads import PHI, dicom, encoded, png_header_only, xray

# ../shared/fixtures/cxr/README.md: full-resolution source images and their index in the training split
FIXTURE_IMAGES = {"kermany_NORMAL2-IM-1430-0001.jpeg": 1258, "kermany_person1951_bacteria_4882.jpeg": 4424}
DICOM_FIXTURES = FIXTURES.parent / "dicom"


@pytest.mark.skipif(not FIXTURES.exists() or not (REAL_DATA_ROOT / "pneumoniamnist.npz").exists(), reason="needs ../shared fixtures and data")
@pytest.mark.parametrize("file_name", FIXTURE_IMAGES)
def test_full_resolution_xray_becomes_its_dataset_image(file_name):
    dataset_image = np.load(REAL_DATA_ROOT / "pneumoniamnist.npz")["train_images"][FIXTURE_IMAGES[file_name]].astype(float)
    original = decode((FIXTURES / file_name).read_bytes()).grey
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


@pytest.mark.parametrize("fmt, name", [("PNG", "PNG"), ("JPEG", "JPEG"), ("TIFF", "TIFF"), ("BMP", "BMP"), ("WEBP", "WebP"), ("GIF", "GIF")])
def test_every_raster_format_is_recognised_by_content_and_decodes_to_the_same_picture(fmt, name):
    picture = xray(3, 200)
    options = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt == "JPEG" else {}
    decoded = decode(encoded(picture, fmt, **options))
    assert (decoded.format, decoded.width, decoded.height, decoded.grey.dtype) == (name, 200, 200, np.uint8)
    assert np.abs(decoded.grey.astype(float) - picture).mean() < 2


def test_a_multi_frame_file_reads_its_first_frame_and_says_how_many():
    first, second = xray(1, 120), xray(2, 120)
    data = encoded(Image.fromarray(first), "TIFF", save_all=True, append_images=[Image.fromarray(second)])
    decoded = decode(data)
    assert decoded.frames == 2 and np.array_equal(decoded.grey, first)


def test_colour_jpeg_decodes_to_grey_and_a_colour_photo_is_measured_as_colourful():
    grey = decode(encoded(Image.new("RGB", (40, 30), (200, 200, 200)), "JPEG"))
    assert grey.grey.shape == (30, 40) and abs(int(grey.grey.mean()) - 200) <= 2 and grey.colourfulness == 0
    photo = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    assert decode(encoded(photo)).colourfulness > 0.5


def test_sixteen_bit_png_is_stretched_not_clipped():
    values = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit detector range
    decoded = decode(encoded(Image.fromarray(values)))
    assert decoded.grey.min() == 0 and decoded.grey.max() == 255 and len(np.unique(decoded.grey)) > 200 and decoded.bits == 16


def test_exif_orientation_is_applied():
    image = Image.new("L", (60, 20), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees to display
    assert decode(encoded(image, "JPEG", exif=exif)).grey.shape == (60, 20)


def test_big_images_are_reduced_to_the_working_size_by_area_averaging():
    picture = xray(5, 3000)
    decoded = decode(encoded(picture))
    assert (decoded.width, decoded.height) == (3000, 3000) and decoded.grey.shape == (1500, 1500)
    assert np.abs(to_dataset_image(decoded.grey).astype(float) - to_dataset_image(picture)).mean() < 1


def test_transparent_pixels_are_cropped_or_filled_so_they_do_not_change_the_picture():
    picture = xray(4, 200)
    framed = np.zeros((300, 260, 4), np.uint8)
    framed[50:250, 30:230, :3], framed[50:250, 30:230, 3] = picture[..., None], 255
    framed[120:130, 100:110, 3] = 0  # a transparent hole inside, over black
    decoded = decode(encoded(framed))
    assert decoded.grey.shape == (200, 200) and decoded.transparent_fraction == pytest.approx(1 - (200 * 200 - 100) / (300 * 260))
    assert np.array_equal(decoded.grey[:60], picture[:60])
    assert abs(float(decoded.grey[120:130, 100:110].mean()) - float(picture[110:140, 90:120].mean())) < 25  # filled, not black


@pytest.mark.parametrize("payload", [b"", b"plain text", b"MZ\x90\x00 a windows program", b"%PDF-1.7 not an x-ray",
                                     b"\x89PNG\r\n\x1a\n\x00\x00 truncated", b"\xff\xd8\xff\xe0 broken jpeg"])
def test_non_images_get_one_readable_sentence(payload):
    with pytest.raises(ImageDecodeError) as error:
        decode(payload)
    assert "\n" not in str(error.value) and ("can read" in str(error.value) or "damaged" in str(error.value))


def test_pixel_limit_names_the_size_before_any_pixel_is_decoded(monkeypatch):
    with pytest.raises(ImageDecodeError, match=r"7700×7700 pixels \(59 megapixels\); the app reads images up to 36 megapixels"):
        decode(png_header_only(7700, 7700))
    with pytest.raises(ImageDecodeError, match=r"far too large \(900 megapixels\)"):
        decode(png_header_only(30000, 30000))
    monkeypatch.setattr(imaging, "MAX_PIXELS", 100)
    with pytest.raises(ImageDecodeError, match="20×20 pixels"):
        decode(encoded(Image.new("L", (20, 20))))


def test_dicom_monochrome2_sixteen_bit_with_window_and_rescale():
    picture = xray(6, 128).astype(np.uint16) * 16  # 12 bits
    plain = decode(dicom(picture, bits_stored=12))
    assert plain.format == "DICOM" and plain.bits == 12 and np.corrcoef(plain.grey.ravel(), picture.ravel())[0, 1] > 0.999
    rescaled = decode(dicom(picture, bits_stored=12, rescale=(2.0, -1024.0)))
    assert np.array_equal(rescaled.grey, plain.grey)  # a linear rescale, then the full range: the same picture
    windowed = decode(dicom(picture, bits_stored=12, window=(2048, 1024)))  # keeps 1536-2560 of 0-4080
    inside = (picture > 1600) & (picture < 2500)
    assert windowed.grey[picture < 1500].max() == 0 and windowed.grey[picture > 2600].min() == 255
    assert np.corrcoef(windowed.grey[inside], picture[inside])[0, 1] > 0.99


@pytest.mark.parametrize("compressed", [False, True], ids=["uncompressed", "RLE"])
@pytest.mark.parametrize("preamble", [True, False], ids=["preamble", "no-preamble"])
def test_dicom_monochrome1_comes_out_the_right_way_round(compressed, preamble):
    picture = xray(8, 96)
    stored = (255 - picture).astype(np.uint16) * 4  # MONOCHROME1: 0 is white
    decoded = decode(dicom(stored, photometric="MONOCHROME1", bits_stored=10, compressed=compressed, preamble=preamble))
    assert np.corrcoef(decoded.grey.ravel(), picture.ravel())[0, 1] > 0.999
    assert decoded.dicom.photometric == "MONOCHROME1"


def _without_file_meta(pixels: np.ndarray, implicit_vr: bool, little_endian: bool) -> bytes:
    """A CR chest DICOM as older archives hold it: no preamble, no "DICM", no File Meta (so no Transfer Syntax UID)."""
    import io

    import pydicom
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
    ds.Modality, ds.BodyPartExamined = "CR", "CHEST"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 10, 9, 0
    ds.PixelData = pixels.astype("<u2" if little_endian else ">u2").tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=False, implicit_vr=implicit_vr, little_endian=little_endian)
    return buffer.getvalue()


@pytest.mark.parametrize("implicit_vr, little_endian", [(True, True), (False, True), (False, False)],
                         ids=["implicit-little", "explicit-little", "explicit-big"])
def test_a_dicom_without_file_meta_decodes_in_the_encoding_it_was_written_in(implicit_vr, little_endian):
    rows, columns = np.mgrid[:440, :440]
    stored = (2 * rows + columns) * 1023 // (3 * 439)  # 0-1023 (10 bits), rows and columns told apart
    data = _without_file_meta(stored, implicit_vr, little_endian)
    assert data[128:132] != b"DICM" and int.from_bytes(data[:2], "little" if little_endian else "big") == 0x0008
    decoded = decode(data)
    assert (decoded.format, decoded.width, decoded.height, decoded.bits) == ("DICOM", 440, 440, 10)
    assert np.array_equal(decoded.grey, 255 - np.round(stored * 255 / 1023).astype(np.uint8))  # MONOCHROME1: 0 is white
    assert (decoded.dicom.modality, decoded.dicom.body_part, decoded.dicom.photometric) == ("CR", "CHEST", "MONOCHROME1")


def test_a_multi_frame_dicom_reads_its_first_frame():
    decoded = decode(dicom(xray(9, 64), frames=3))
    assert decoded.frames == 3 and decoded.grey.shape == (64, 64)


def test_dicom_facts_are_the_allow_listed_ones_and_never_patient_data():
    decoded = decode(dicom(xray(10, 64), modality="CR", body_part="CHEST", view="AP"))
    shown = " ".join(f"{label} {value}" for label, value in decoded.dicom.rows_to_show())
    assert "CR" in shown and "CHEST" in shown and "AP" in shown and "64×64 pixels" in shown
    assert not any(value.split("^")[0] in shown for value in PHI.values())


def test_a_dicom_without_pixel_data_says_so():
    with pytest.raises(ImageDecodeError, match="holds no image"):
        decode(dicom(None))


def test_a_damaged_dicom_says_so():
    data = dicom(xray(11, 64))
    with pytest.raises(ImageDecodeError, match="DICOM"):
        decode(data[:400])


@pytest.mark.skipif(not DICOM_FIXTURES.exists(), reason="needs ../shared/fixtures/dicom")
def test_the_real_dicoms_decode_the_right_way_round():
    cr = decode((DICOM_FIXTURES / "CR-ModalitySequenceLUT.dcm").read_bytes())  # JPEG Lossless, MONOCHROME1, modality LUT
    assert (cr.dicom.modality, cr.dicom.photometric, cr.width, cr.height, cr.bits) == ("CR", "MONOCHROME1", 1976, 1576, 10)
    # a dental panoramic: the jaw bones and fillings bright, the air above the head dark
    assert cr.grey[:200].mean() < 40 and cr.grey[800:1200, 600:1400].mean() > 100
    ct = decode((DICOM_FIXTURES / "CT-MONO2-16-ankle.dcm").read_bytes())
    assert (ct.dicom.modality, ct.grey.shape) == ("CT", (512, 512)) and ct.grey.mean() < 60  # a bone rendering on black
