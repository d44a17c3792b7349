"""Small generated upload files for the tests: every format, DICOMs of every kind, and hostile files."""

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

from core.assets import load_test_images

TEST_IMAGES = load_test_images()[0]
PHI = {"PatientName": "DOE^JANE", "PatientID": "PHI-5551234", "PatientBirthDate": "20210314", "InstitutionName": "St Elsewhere Hospital",
       "ReferringPhysicianName": "WHO^DOCTOR", "AccessionNumber": "ACC998877", "StudyDate": "20250102"}


def xray(index: int = 0, side: int = 320) -> np.ndarray:
    """A test-split X-ray enlarged to side×side (uint8): a plausible upload the models know."""
    return np.asarray(Image.fromarray(TEST_IMAGES[index]).resize((side, side), Image.Resampling.BICUBIC))


def encoded(image: Image.Image | np.ndarray, fmt: str = "PNG", **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def text_page() -> bytes:
    page = Image.new("L", (850, 1100), 255)
    draw = ImageDraw.Draw(page)
    for y in range(60, 1050, 22):
        draw.text((60, y), "Discharge summary: the patient was seen and examined; chest clear on auscultation.", fill=20)
    return encoded(page, "JPEG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width×height (a decompression bomb's header) with no real pixel data behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def dicom(pixels: np.ndarray | None, *, photometric: str = "MONOCHROME2", modality: str = "DX", body_part: str = "CHEST",
          view: str = "PA", bits_stored: int | None = None, window: tuple[float, float] | None = None,
          rescale: tuple[float, float] | None = None, compressed: bool = False, preamble: bool = True, frames: int = 1) -> bytes:
    """A DICOM file (pydicom writes it) carrying patient data in its header, as a real one would."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = modality, body_part, view
    if pixels is not None:
        stack = np.repeat(pixels[None], frames, axis=0) if frames > 1 else pixels
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
        ds.BitsAllocated = 16 if pixels.dtype.itemsize == 2 else 8
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, int(pixels.dtype.kind == "i")
        if frames > 1:
            ds.NumberOfFrames = frames
        if window:
            ds.WindowCenter, ds.WindowWidth = window
        if rescale:
            ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.PixelData = np.ascontiguousarray(stack).tobytes()
        if compressed:
            ds.compress(RLELossless)  # pydicom's own RLE encoder
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=preamble)
    return buffer.getvalue()


def hostile_files() -> dict[str, bytes]:
    """Odd and hostile files a public demo will meet, each a (name, bytes) a browser could send."""
    import pydicom

    rng = np.random.default_rng(7)
    picture = xray(30, 256)
    jpeg = encoded(picture, "JPEG")
    a_dicom = dicom(picture.astype(np.uint16) * 16, bits_stored=12)

    def edited_dicom(**changes) -> bytes:
        ds = pydicom.dcmread(io.BytesIO(a_dicom))
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds)
        return buffer.getvalue()

    cmyk = Image.fromarray(picture).convert("CMYK")
    palette = Image.fromarray(picture).convert("P")
    frames = [Image.fromarray(xray(i, 128)) for i in range(3)]
    return {
        "empty.png": b"", "random.bin": rng.bytes(5000), "page.pdf": b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF",
        "virus.exe": b"MZ\x90\x00\x03" + rng.bytes(300), "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="9"/></svg>',
        "page.html": b"<html><script>alert(1)</script></html>", "archive.zip": b"PK\x03\x04" + rng.bytes(200),
        "truncated.jpg": jpeg[: len(jpeg) // 2], "truncated.png": encoded(picture)[:300], "truncated.dcm": a_dicom[:1000],
        "bomb.png": png_header_only(30000, 30000), "huge-claim.png": png_header_only(7700, 7700), "1x1.png": encoded(np.zeros((1, 1), np.uint8)),
        "1x5000.png": encoded(np.zeros((1, 5000), np.uint8)), "icon.ico": encoded(Image.fromarray(picture).resize((64, 64)), "ICO"),
        "cmyk.jpg": encoded(cmyk, "JPEG"), "palette.png": encoded(palette), "animated.gif": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "float.tif": encoded(Image.fromarray(picture.astype(np.float32) / 255), "TIFF"), "16bit-flat.png": encoded(np.full((300, 300), 40000, np.uint16)),
        "fully-transparent.png": encoded(np.zeros((100, 100, 4), np.uint8)), "colour.webp": encoded(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8), "WEBP"),
        "page.jpg": text_page(), "inverted.png": encoded(255 - picture), "no-pixels.dcm": dicom(None),
        "zero-rows.dcm": edited_dicom(Rows=0), "32-bit.dcm": edited_dicom(BitsAllocated=32, BitsStored=32, HighBit=31),
        "short-pixel-data.dcm": edited_dicom(PixelData=b"\x00" * 100), "rgb.dcm": edited_dicom(PhotometricInterpretation="RGB", SamplesPerPixel=3),
        "ct.dcm": dicom(picture, modality="CT"), "no-preamble.dcm": dicom(picture, preamble=False),
        "renamed-dicom.png": a_dicom, "renamed-png.dcm": encoded(picture), "strip.png": encoded(np.tile(picture[:60], (1, 8))),
    }
