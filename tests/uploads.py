"""Small generated upload files for the tests: every format, DICOMs of every kind, and hostile files."""

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

from tests.conftest import REPO

TEST_IMAGES = np.load(REPO / "assets" / "pneumoniamnist_test.npz")["images"]
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
