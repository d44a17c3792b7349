"""Streamlit glue shared by the pages: checked checkpoints, cached models, sweeps and resamples, and the one
current threshold per model (st.session_state["threshold_<model>"], kept across pages).

Everything cached with st.cache_resource is shared by every session's thread, so it is read-only: frozen
dataclasses, arrays marked unwriteable, models that inference never changes (see core.inference); the cached
prediction frames and cards are only ever read (ui.predictions hands out copies).
A broken checkpoint disables its model with a message; the other models and pages keep working.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core.cards import Card
from core.checkpoints import Checkpoint, CheckpointError, open_checkpoint, require_complete, trained_models
from core.evaluation import (
    BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, OPERATING_POINT_HELP, OPERATING_POINT_LABELS, bootstrap_indices, recalibration, split_arrays,
)
from core.metrics import Resamples, Sweep, interval, paired_bootstrap_differences, roc_auc, sweep
from core.registry import spec
from core.reporting import CLASS_NAMES, DISCLAIMER, GLOSSARY  # noqa: F401  (DISCLAIMER: for the pages)

TEST_IMAGES = Path(__file__).resolve().parent / "assets" / "pneumoniamnist_test.npz"
SPLIT_LABELS = {"test": "Test", "val": "Validation"}
RAISE_PAGE_ERRORS_ENV = "PNEUMONIA_EXPLORER_RAISE_PAGE_ERRORS"  # "1": the entry script re-raises a page's error (tests)
PAGE_ERROR = ("Something went wrong on this page, and it has been logged. The other pages still work; try again, or pick "
              "another page.")
log = logging.getLogger("pneumonia_explorer")


@st.cache_resource(show_spinner="Checking the checkpoints…")
def _checkpoints() -> dict[str, Checkpoint | CheckpointError]:
    """Every trained registry model's checkpoint, opened and checked once per process, or why it cannot be used.

    A registry model with no checkpoint folder is simply not trained yet, and not shown.
    """
    opened = {}
    for name, folder in trained_models().items():
        try:
            opened[name] = require_complete(open_checkpoint(folder, expected_name=name))
        except CheckpointError as error:
            log.warning("checkpoint %s disabled: %s", name, error)
            opened[name] = error
    return opened


def model_names() -> list[str]:
    """The models whose checkpoints passed their checks, in registry order."""
    return [name for name, checkpoint in _checkpoints().items() if isinstance(checkpoint, Checkpoint)]


def checkpoint_problems() -> list[str]:
    return [str(problem) for problem in _checkpoints().values() if isinstance(problem, CheckpointError)]


def require_models(minimum: int = 1) -> list[str]:
    """The usable models, after a warning for each disabled one; stops the page when fewer than minimum remain."""
    for problem in checkpoint_problems():
        st.warning(problem, icon=":material/warning:")
    names = model_names()
    if len(names) < minimum:
        st.error(f"This page needs {minimum} working model{'s' if minimum > 1 else ''}; {len(names)} "
                 f"{'is' if len(names) == 1 else 'are'} available.", icon=":material/error:")
        st.stop()
    return names


def card(name: str) -> Card:
    return _checkpoints()[name].card


def display_name(name: str) -> str:
    return spec(name).display_name


def colour(name: str) -> str:
    return spec(name).colour


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.setflags(write=False)
    return array


@st.cache_resource(show_spinner="Loading the model…")
def _model(name: str):
    from core.inference import load_model  # torch is imported here, not at start-up

    return load_model(_checkpoints()[name])


def model(name: str):
    """The model, loaded once per process and shared read-only; None (after an error message) if its weights fail."""
    try:
        return _model(name)
    except CheckpointError as error:
        st.error(str(error), icon=":material/error:")
        return None


@dataclass(frozen=True)
class SplitView:
    """One model's committed predictions on one split, with everything a threshold move needs precomputed."""

    labels: np.ndarray
    scores: np.ndarray  # the model's probability (raw); thresholds live on this scale
    calibrated: np.ndarray  # the same, through the card's recalibration
    sweep: Sweep
    auc: float
    auc_interval: tuple[float, float]
    resamples: Resamples
    indices: np.ndarray  # the bootstrap resamples' case indices (for intervals of other statistics)


@st.cache_resource(show_spinner="Precomputing threshold sweep and bootstrap…")
def split_view(name: str, split: str) -> SplitView:
    predictions = _checkpoints()[name].predictions
    labels, scores = (_read_only(a) for a in split_arrays(predictions, split))
    recalibrated = _read_only(recalibration(card(name))(predictions.loc[predictions["split"] == split, "logit"].to_numpy()))
    indices = _read_only(bootstrap_indices(labels))
    resamples = Resamples.of(labels, scores, indices)
    for array in (resamples.scores, resamples.labels):
        array.setflags(write=False)
    swept = sweep(labels, scores)
    swept = Sweep(_read_only(swept.thresholds), {k: _read_only(v) for k, v in swept.counts.items()},
                  {k: _read_only(v) for k, v in swept.metrics.items()})
    return SplitView(labels, scores, recalibrated, swept, roc_auc(labels, scores), interval(resamples.auc()), resamples, indices)


def predictions(name: str, split: str):
    """One split's rows of the committed predictions (a copy: the cached frame stays untouched)."""
    frame = _checkpoints()[name].predictions
    return frame[frame["split"] == split].copy()


def calibrated(name: str, probability: float) -> float:
    """A raw probability (or a threshold on it) through the model's recalibration; 0 and 1 stay put."""
    if probability <= 0 or probability >= 1:
        return float(probability)
    return float(recalibration(card(name)).from_probability(probability))


def define(*terms: str) -> None:
    """The glossary's words for the terms a table above uses, always visible (touch screens have no hover)."""
    st.caption(" ".join(f"**{term}**: {GLOSSARY[term]}" for term in terms))


def chart(figure, key: str) -> None:
    """A Plotly figure without its mode bar, which covers titles on narrow screens."""
    st.plotly_chart(figure, key=key, config={"displayModeBar": False, "responsive": True})


@st.cache_data(show_spinner="Paired bootstrap…", max_entries=64)
def paired_differences(first: str, second: str, split: str, threshold_first: float, threshold_second: float) -> dict:
    a, b = split_view(first, split), split_view(second, split)
    return paired_bootstrap_differences(a.labels, a.scores, b.scores, threshold_first, threshold_second, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)


@st.cache_resource(show_spinner=False)
def neighbourhood():
    """The out-of-distribution reference (core.ood), shared read-only."""
    from core.ood import Neighbourhood

    loaded = Neighbourhood.load()
    for array in (loaded.reference, loaded.validation_scores, loaded.mean_image):
        array.setflags(write=False)
    return loaded


@st.cache_resource(show_spinner=False)
def gate_false_alarm_rate() -> float:
    """The share of the shipped test images the upload gate calls far from the training images."""
    gate, (images, _) = neighbourhood(), test_images()
    return float(np.mean(gate.scores(images) > gate.threshold))


def show_verdict(verdict) -> None:
    """The input gate's verdict above the predictions: refused stops the page, flagged warns, accepted says so."""
    from core.gate import FLAGGED, REFUSED

    if verdict.outcome == REFUSED:
        st.error(verdict.reasons[0], icon=":material/block:")
        st.stop()
    closer = f"closer to the training images than {1 - verdict.share_closer:.0%} of the validation X-rays are"
    if verdict.outcome == FLAGGED:
        st.warning("**Read with caution: this upload is outside what the models know.**\n\n"
                   + "\n".join(f"- {reason}" for reason in verdict.reasons)
                   + "\n\nThe readings below are shown for exploration, not as an answer.", icon=":material/warning:")
    else:
        st.success(f"**Accepted**: it looks like the training X-rays ({closer}).", icon=":material/check_circle:")
    for note in verdict.notes:
        st.caption(note)


@st.cache_resource(show_spinner=False)
def test_images() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 28x28 test images and labels (same order as the test predictions)."""
    with np.load(TEST_IMAGES) as data:
        return _read_only(data["images"]), _read_only(data["labels"])


def threshold_key(name: str) -> str:
    return f"threshold_{name}"


def current_threshold(name: str) -> float:
    """The model's threshold: set by the slider or a preset, else the operating point chosen on validation."""
    return float(st.session_state.setdefault(threshold_key(name), card(name).opening_threshold))


def set_threshold(name: str, value: float) -> None:
    """The one place a threshold changes; the URL follows at once (fragment reruns skip the entry script)."""
    st.session_state[threshold_key(name)] = float(value)
    st.query_params[f"t_{name}"] = f"{value:.3f}"


def slider_key(place: str, name: str) -> str:
    return f"slider_{place}_{name}"


def threshold_slider(name: str, place: str, label: str = "Decision threshold (probability of pneumonia)") -> float:
    """A slider onto the model's one threshold. Each page has its own widget, set from the threshold before it is
    drawn and writing back on change, so presets, other pages and shared links all move it."""
    key = slider_key(place, name)
    st.session_state[key] = current_threshold(name)
    st.slider(label, 0.0, 1.0, step=0.001, format="%.3f", key=key, on_change=lambda: set_threshold(name, st.session_state[key]))
    return current_threshold(name)


def preset_groups(name: str) -> dict[float, list[str]]:
    """The operating points chosen on validation, those that land on the same threshold together."""
    groups: dict[float, list[str]] = {}
    for point, value in card(name).metrics.thresholds.items():
        groups.setdefault(value, []).append(point)
    return groups


def preset_buttons(name: str) -> None:
    """One button per distinct threshold chosen on validation (naming every rule that chose it); a click moves the
    model's threshold there."""
    groups = preset_groups(name)
    for column, (value, points) in zip(st.columns(len(groups)), groups.items()):
        column.button(" = ".join(OPERATING_POINT_LABELS[p] for p in points) + f": {value:.3f}", key=f"preset_{name}_{points[0]}",
                      on_click=set_threshold, args=(name, value), width="stretch",
                      help=" ".join(OPERATING_POINT_HELP[p] for p in points))


def reset_thresholds(names: list[str]) -> None:
    """Every model back to the operating point the app opens at (chosen on validation)."""
    for name in names:
        set_threshold(name, card(name).opening_threshold)


QUERY_KEYS = {"model": ("explorer_model", "gallery_model", "card_model"), "split": ("explorer_split", "comparison_split", "calibration_split")}
RESTORED = "_query_restored"


def sync_query_params() -> None:
    """A shareable link: the URL carries the model, split and every threshold, and opening it restores them.

    On a session's first run the query parameters set the state (the widgets then start there); on every run
    the current state is written back to the URL.
    """
    names = model_names()
    if RESTORED not in st.session_state:
        st.session_state[RESTORED] = True
        params = st.session_state.pop(DEEP_LINK_QUERY, None) or st.query_params.to_dict()
        if params.get("model") in names:
            for key in QUERY_KEYS["model"]:
                st.session_state[key] = params["model"]
        if params.get("split") in SPLIT_LABELS:
            for key in QUERY_KEYS["split"]:
                st.session_state[key] = params["split"]
        for name in names:
            try:
                value = float(params.get(f"t_{name}", "nan"))
            except ValueError:
                continue
            if 0 <= value <= 1:
                set_threshold(name, value)
    state = {"model": st.session_state.get("explorer_model"), "split": st.session_state.get("explorer_split")}
    state |= {f"t_{name}": f"{st.session_state[threshold_key(name)]:.3f}" for name in names if threshold_key(name) in st.session_state}
    st.query_params.update({key: value for key, value in state.items() if value is not None})


@st.cache_resource(show_spinner=False)
def page_icon():
    """The browser-tab icon, drawn here (two lungs), so that nothing is fetched from the internet."""
    from PIL import Image, ImageDraw

    icon = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    draw.rounded_rectangle((6, 10, 29, 58), radius=11, fill="#2b6777")
    draw.rounded_rectangle((35, 10, 58, 58), radius=11, fill="#2b6777")
    draw.rectangle((30, 2, 34, 30), fill="#c26d3a")
    return icon


ENTRY_RAN = "_entry_script_ran"
DEEP_LINK = "_requested_page"
DEEP_LINK_QUERY = "_requested_query"


def through_entry_script(page_file: str) -> None:
    """Route a page request through streamlit_app.py when it bypassed it.

    Because the project has a pages/ folder, a fresh server starts in Streamlit's legacy mode, where a first
    request for a page URL runs that page alone: no navigation, no page config. Go through the entry script once
    (its st.navigation ends legacy mode for the process), which then forwards to the page that was asked for.
    """
    if ENTRY_RAN not in st.session_state:
        st.session_state[DEEP_LINK] = Path(page_file).name
        st.session_state[DEEP_LINK_QUERY] = st.query_params.to_dict()  # st.switch_page drops them
        st.switch_page("streamlit_app.py")


def enlarge(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """Nearest-neighbour enlargement, so a 28x28 image shows its real pixels."""
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))


RAW_KEY = "show_raw_scores"


def raw_toggle() -> bool:
    """Calibrated probabilities by default; the models' raw scores one click away (kept across pages)."""
    return st.toggle("Show the models' raw scores instead of calibrated probabilities", key=RAW_KEY, persist_state="session",
                     help=GLOSSARY["Calibrated probability"])


def show_reading(name: str, reading, threshold: float) -> None:
    """One model's probability (calibrated, or raw when asked) and its decision, as a metric."""
    probability = calibrated(name, reading.probability)
    raw = st.session_state.get(RAW_KEY, False)
    shown, other = (reading.probability, f"calibrated {probability:.3f}") if raw else (probability, f"raw score {reading.probability:.3f}")
    st.metric(f"{display_name(name)}: P(pneumonia)", f"{shown:.3f}", f"{CLASS_NAMES[reading.predicted_class]} at {threshold:.3f}",
              delta_color="off", delta_arrow="off", help=GLOSSARY["Calibrated probability"])
    st.caption(f"{'Raw score' if raw else 'Calibrated'}; {other}. The threshold is on the raw score.")


def heatmap_legend() -> None:
    from core.case_report import colour_legend

    st.image(colour_legend(256, 12), width=256)
    st.caption("Heatmap colour: blue, little evidence; red, most evidence for the class the model decided. For a "
               "“normal” reading, red is evidence for normal. Grad-CAM is coarse: one value per cell of the model's last feature map.")


def report_downloads(build, key: str) -> None:
    """PDF and PNG case reports, generated only when a button is pressed (build() -> core.case_report.CaseReport)."""
    from core import case_report

    pdf, png = st.columns(2)
    pdf.download_button("Case report (PDF)", data=lambda: case_report.pdf(build()), file_name="case-report.pdf",
                        mime="application/pdf", key=f"{key}_pdf", on_click="ignore", icon=":material/picture_as_pdf:", width="stretch")
    png.download_button("Case report (PNG)", data=lambda: case_report.png(build()), file_name="case-report.png",
                        mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/image:", width="stretch")


def model_readings(readings: dict, thresholds: dict, shown_square, opacity: float) -> tuple:
    """Each model's reading as the case report records it."""
    from core.case_report import ModelReading
    from core.imaging import overlay

    return tuple(
        ModelReading(display_name(name), reading.probability, calibrated(name, reading.probability), thresholds[name],
                     calibrated(name, thresholds[name]), CLASS_NAMES[reading.predicted_class],
                     overlay(shown_square, reading.heatmap, opacity), card(name).weights_sha256)
        for name, reading in readings.items())
