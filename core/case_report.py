"""The case report a presenter hands over: what the models saw and said about one image, as a PDF (fpdf2) and a
PNG (Pillow). It carries no patient data: DICOM headers never reach it, and the file name only when asked for.
One builder (build) serves the Predict page and the gallery."""

import io
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone

import cv2
import numpy as np
import pandas as pd
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from core.cards import Card
from core.evaluation import calibrated_threshold, recalibration
from core.imaging import overlay
from core.registry import spec
from core.reporting import CLASS_NAMES, DISCLAIMER


@dataclass(frozen=True)
class ModelReading:
    model: str  # display name
    raw: float  # the model's probability
    calibrated: float  # through the card's recalibration
    threshold: float  # on the raw scale
    threshold_calibrated: float
    decision: str
    overlay: np.ndarray  # RGB uint8: the X-ray with the Grad-CAM heatmap blended in
    weights_sha256: str


@dataclass(frozen=True)
class CaseReport:
    title: str
    source: str  # format and size, never a patient detail
    model_input: np.ndarray  # 28×28 uint8
    square: np.ndarray  # the centre square of the upload, at up to full resolution, uint8
    readings: tuple[ModelReading, ...]
    gate: str  # the input gate's verdict in words
    framing: tuple[str, ...] = ()  # the framing check, one line per model
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    file_name: str | None = None  # only when the user asks for it


def build(title: str, source: str, model_input: np.ndarray, square: np.ndarray, readings: dict, cards: dict[str, Card],
          thresholds: dict[str, float], opacity: float, gate: str, framing: tuple[str, ...] = (), file_name: str | None = None) -> CaseReport:
    """The case report for Predict and the gallery alike: each model's reading (core.inference.Reading, by model name)
    at its threshold, its heatmap blended onto `square` at `opacity`, the gate's verdict and the framing check in words."""
    return CaseReport(title, source, model_input, square, tuple(
        ModelReading(spec(name).display_name, reading.probability, float(recalibration(cards[name])(reading.logit)), thresholds[name],
                     calibrated_threshold(cards[name], thresholds[name]), CLASS_NAMES[reading.predicted_class],
                     overlay(square, reading.heatmap, opacity), cards[name].weights_sha256)
        for name, reading in readings.items()), gate, framing, file_name=file_name)


def colour_legend(width: int = 256, height: int = 14) -> np.ndarray:
    """The heatmaps' colour scale (OpenCV's JET, as the overlays use), low to high, RGB uint8."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def _png(array: np.ndarray, size: int | None = None) -> io.BytesIO:
    image = Image.fromarray(array)
    if size:
        image = image.resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def _latin1(text: str) -> str:
    """The PDF's built-in fonts are Latin-1: typographic dashes and symbols become their plain forms."""
    for fancy, plain in (("–", "-"), ("—", "-"), ("≥", ">="), ("≤", "<="), ("’", "'"), ("“", '"'), ("”", '"'), ("…", "...")):
        text = text.replace(fancy, plain)
    return text.encode("latin-1", "replace").decode("latin-1")


def _lines(report: CaseReport) -> list[str]:
    lines = [f"Image: {report.source}" + (f" (file {report.file_name})" if report.file_name else ""), f"Created: {report.created}"]
    lines.append(f"Input gate: {report.gate}")
    lines += [f"Framing check, {line}" for line in report.framing]
    for r in report.readings:
        lines.append(f"{r.model}: P(pneumonia) {r.calibrated:.3f} calibrated, {r.raw:.3f} raw; threshold {r.threshold:.3f} raw "
                     f"({r.threshold_calibrated:.3f} calibrated) -> {r.decision}. Weights sha256 {r.weights_sha256[:16]}")
    return lines


def pdf(report: CaseReport) -> bytes:
    document = FPDF(orientation="portrait", unit="mm", format="A4")
    document.set_title(_latin1(report.title))
    document.set_creator("Pneumonia X-ray Explorer")
    document.add_page()
    document.set_font("Helvetica", "B", 16)
    document.cell(0, 10, _latin1(report.title), new_x="LMARGIN", new_y="NEXT")
    document.set_font("Helvetica", size=9)
    document.multi_cell(0, 5, _latin1(DISCLAIMER), new_x="LMARGIN", new_y="NEXT")
    document.ln(2)
    top = document.get_y()
    document.image(_png(report.square), x=10, y=top, w=60, h=60)
    document.image(_png(report.model_input, 224), x=74, y=top, w=30, h=30)
    document.set_xy(74, top + 31)
    document.multi_cell(40, 4, "What the models see: 28x28 pixels", new_x="LMARGIN", new_y="NEXT")
    document.set_y(top + 64)
    document.set_font("Helvetica", size=10)
    for line in _lines(report):
        document.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    document.ln(3)
    top = document.get_y()
    for index, reading in enumerate(report.readings):
        x = 10 + index * 64
        document.image(_png(reading.overlay), x=x, y=top, w=60, h=60)
        document.set_xy(x, top + 61)
        document.multi_cell(60, 4, _latin1(f"Grad-CAM: where {reading.model} found evidence for '{reading.decision.lower()}'"))
    legend_top = top + 72
    document.image(_png(colour_legend()), x=10, y=legend_top, w=80, h=4)
    document.set_xy(10, legend_top + 5)
    document.set_font("Helvetica", size=8)
    document.multi_cell(0, 4, "Heatmap colour: blue = little evidence, red = most evidence for the class each model decided "
                              "(for 'normal', evidence for normal). Grad-CAM is coarse: one value per cell of the model's last feature map.")
    return bytes(document.output())


def png(report: CaseReport, scale: int = 2) -> bytes:
    """The same content as one image, for slides and messages."""
    side = 224 * scale
    gap = 12 * scale
    panels = [report.square, report.model_input] + [r.overlay for r in report.readings]
    text_font = ImageFont.load_default(size=11 * scale)
    title_font = ImageFont.load_default(size=18 * scale)
    width = gap + len(panels) * (side + gap)
    lines = [report.title, DISCLAIMER] + _lines(report)
    height = gap + side + 50 * scale + sum(len(textwrap.wrap(line, (width - 2 * gap) // (6 * scale))) for line in lines) * 16 * scale + 40 * scale
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for index, panel in enumerate(panels):
        tile = Image.fromarray(panel).convert("RGB").resize((side, side), Image.Resampling.NEAREST if index == 1 else Image.Resampling.BILINEAR)
        canvas.paste(tile, (gap + index * (side + gap), gap))
    captions = ["The X-ray (centre square)", "What the models see (28x28)"] + [f"{r.model}: {r.decision}" for r in report.readings]
    for index, caption in enumerate(captions):
        draw.text((gap + index * (side + gap), gap + side + 4 * scale), caption, fill="black", font=text_font)
    legend = Image.fromarray(colour_legend(side, 8 * scale))
    y = gap + side + 24 * scale
    canvas.paste(legend, (gap, y))
    draw.text((2 * gap + side, y - 2 * scale), "heatmap colour: low -> high evidence", fill="black", font=text_font)
    y += 24 * scale
    characters = (width - 2 * gap) // (6 * scale)  # the default font's average advance at 11 px is about 6 px
    for index, line in enumerate(lines):
        for part in textwrap.wrap(line, characters) if index else [line]:
            draw.text((gap, y), part, fill="black", font=title_font if index == 0 else text_font)
            y += (24 if index == 0 else 16) * scale
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def summary_pdf(title: str, sections: list[tuple[str, list[str]]], tables: list[tuple[str, pd.DataFrame]] = ()) -> bytes:
    """A set's summary as a PDF: the title and disclaimer, then headed sections of sentences and small tables."""
    document = FPDF(orientation="landscape", unit="mm", format="A4")
    document.set_title(_latin1(title))
    document.set_creator("Pneumonia X-ray Explorer")
    document.add_page()
    document.set_font("Helvetica", "B", 16)
    document.cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    document.set_font("Helvetica", size=9)
    document.multi_cell(0, 5, _latin1(DISCLAIMER), new_x="LMARGIN", new_y="NEXT")
    document.cell(0, 5, f"Created: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}", new_x="LMARGIN", new_y="NEXT")
    for heading, lines in sections:
        document.ln(2)
        document.set_font("Helvetica", "B", 12)
        document.multi_cell(0, 6, _latin1(heading), new_x="LMARGIN", new_y="NEXT")
        document.set_font("Helvetica", size=10)
        for line in lines:
            document.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    for heading, table in tables:
        document.ln(2)
        document.set_font("Helvetica", "B", 11)
        document.multi_cell(0, 6, _latin1(heading), new_x="LMARGIN", new_y="NEXT")
        document.set_font("Helvetica", size=8)
        with document.table(text_align="LEFT") as drawn:
            for row in [[table.index.name or ""] + list(table.columns)] + [[index] + list(values) for index, values in zip(table.index, table.values)]:
                cells = drawn.row()
                for value in row:
                    cells.cell(_latin1(str(value)))
    return bytes(document.output())
