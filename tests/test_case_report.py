"""The case report: a valid PDF and PNG with what the models saw and said, and nothing that identifies a patient."""

import io

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from core.case_report import CaseReport, ModelReading, pdf, png
from core.gate import check
from core.imaging import decode, display_image, overlay, to_dataset_image
from core.ood import Neighbourhood
from tests.uploads import dicom, xray


def _report(file_name=None) -> CaseReport:
    decoded = decode(dicom(xray(22, 256), modality="CR", body_part="CHEST"))
    image, square = to_dataset_image(decoded.grey), display_image(decoded.grey)
    verdict = check(decoded, image, Neighbourhood.load())
    heat = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28)
    readings = (ModelReading("Custom CNN", 0.8123, 0.7912, 0.433, 0.401, "Pneumonia", overlay(square, heat, 0.45), "ab" * 32),
                ModelReading("ResNet-18", 0.2345, 0.2501, 0.373, 0.377, "Normal", overlay(square, 1 - heat, 0.45), "cd" * 32))
    return CaseReport("Case report: an X-ray read by the models", f"{decoded.format}, {decoded.width}×{decoded.height} pixels",
                      image, square, readings, gate=verdict.outcome, created="2026-11-29 05:00 UTC", file_name=file_name,
                      framing=("Custom CNN: P(pneumonia) 0.71-0.85 over 7 readings: the decision holds.",))


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # lines rejoined


def test_the_pdf_opens_and_says_what_each_model_said():
    data = pdf(_report())
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = _pdf_text(data)
    assert len(reader.pages) == 1 and len(reader.pages[0].images) >= 5  # the square, the 28×28, two heatmaps, the legend
    for expected in ("Custom CNN: P(pneumonia) 0.791 calibrated, 0.812 raw", "threshold 0.433 raw", "-> Pneumonia",
                     "ResNet-18: P(pneumonia) 0.250 calibrated, 0.234 raw", "-> Normal", "Weights sha256 abababababababab",
                     "DICOM, 256×256 pixels", "Input gate: accepted", "2026-11-29 05:00 UTC", "Not a medical device",
                     "Framing check, Custom CNN: P(pneumonia) 0.71-0.85 over 7 readings: the decision holds."):
        assert expected in text, expected


def test_the_file_name_appears_only_when_asked_for():
    assert "DOE_JANE.dcm" not in _pdf_text(pdf(_report()))
    assert "DOE_JANE.dcm" in _pdf_text(pdf(_report(file_name="DOE_JANE.dcm")))


def test_the_png_is_an_image_with_every_panel():
    image = Image.open(io.BytesIO(png(_report())))
    assert image.format == "PNG" and image.width > 4 * 448 and image.height > 448


def test_one_builder_makes_the_report_for_an_upload_and_a_gallery_case_alike():
    from core.assets import load_test_images
    from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
    from core.evaluation import calibrated_threshold, recalibration
    from core.gate import check_dataset_image, summary
    from core.inference import load_model, read

    from core.case_report import build

    image = load_test_images()[0][17]
    card = open_checkpoint(CHECKPOINTS_DIR / "cnn").card
    reading = read(load_model(open_checkpoint(CHECKPOINTS_DIR / "cnn")), image, 0.433)
    gate = summary(check_dataset_image(image, Neighbourhood.load()))
    report = build("Case report: PneumoniaMNIST test case #17", "PneumoniaMNIST test split, 28×28", image, display_image(image, 224),
                   {"cnn": reading}, {"cnn": card}, {"cnn": 0.433}, 0.45, gate, ("Custom CNN: the decision holds.",))
    (model,) = report.readings
    assert model.calibrated == pytest.approx(float(recalibration(card)(reading.logit)))  # from the logit, not a clipped probability
    assert model.threshold_calibrated == pytest.approx(calibrated_threshold(card, 0.433)) and model.raw == reading.probability
    assert gate == "accepted" and "Input gate: accepted" in _pdf_text(pdf(report))  # the gallery case, through the gate too
