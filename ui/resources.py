"""Everything the pages share across sessions, loaded once per process with st.cache_resource.

Every session's thread reads these at once, so they are read-only: frozen dataclasses, arrays marked unwriteable,
models that inference never changes (see core.inference); prediction frames are handed out as copies. A broken
checkpoint disables its model, with a message; the other models and pages keep working.
"""

import logging
from types import MappingProxyType
from typing import Mapping
import numpy as np
import streamlit as st

from core.assets import load_test_images
from core.cards import Card
from core.checkpoints import Checkpoint, CheckpointError, open_checkpoint, require_complete, trained_models
from core.evaluation import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, SplitView, read_only
from core.metrics import paired_bootstrap_differences
from core.registry import spec

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


def card(name: str) -> Card:
    return _checkpoints()[name].card


def display_name(name: str) -> str:
    return spec(name).display_name


def colour(name: str) -> str:
    return spec(name).colour


@st.cache_resource(show_spinner="Loading the model…")
def _model(name: str):
    from core.inference import load_model  # torch and ONNX Runtime are imported here, not at start-up
    from core.serving import serve, use_serving_threads

    use_serving_threads()
    return serve(load_model(_checkpoints()[name]))


def model(name: str):
    """The model as the app serves it (core.serving), loaded once per process and shared read-only; None (after an
    error message) if its weights fail."""
    try:
        return _model(name)
    except CheckpointError as error:
        st.error(str(error), icon=":material/error:")
        return None


@st.cache_resource(show_spinner="Precomputing threshold sweep and bootstrap…")
def split_view(name: str, split: str) -> SplitView:
    return SplitView.of(_checkpoints()[name].predictions, card(name), split)


def predictions(name: str, split: str):
    """One split's rows of the committed predictions (a copy: the cached frame stays untouched)."""
    frame = _checkpoints()[name].predictions
    return frame[frame["split"] == split].copy()


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
    return neighbourhood().false_alarm_rate(test_images()[0])


@st.cache_resource(show_spinner=False)
def test_images() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 28x28 test images and labels (same order as the test predictions)."""
    images, labels = load_test_images()
    return read_only(images), read_only(labels)


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


@st.cache_resource(show_spinner="Bootstrapping ECE and Brier score…")
def calibration_intervals(name: str, split: str) -> Mapping[str, Mapping[str, tuple[float, float]]]:
    """95% intervals of ECE and Brier, of the raw and the calibrated probabilities, over the split's bootstrap resamples
    (read-only mappings of tuples: shared by every session)."""
    from core.calibration import bootstrap_intervals

    view = split_view(name, split)
    return MappingProxyType({scale: MappingProxyType(bootstrap_intervals(view.labels, probabilities, view.indices))
                             for scale, probabilities in (("raw", view.scores), ("calibrated", view.calibrated))})


@st.cache_resource(show_spinner="Fitting the recalibrations…")
def recalibration_methods(name: str) -> tuple:
    """The raw scores, temperature and Platt scaling fitted on validation, scored there and on test (core.calibration):
    frozen records, shared by every session."""
    from core.calibration import compare_methods

    val, test = split_view(name, "val"), split_view(name, "test")
    return tuple(compare_methods(val.labels, val.logits, test.labels, test.logits))


@st.cache_resource(show_spinner="Reading the predictions under the perturbation suite…")
def perturbed_probabilities(name: str, split: str) -> dict[str, np.ndarray] | None:
    """The model's probabilities under each perturbation of the suite (read-only), or None where never measured."""
    from core.robustness import probabilities_of, split_logits

    frame = _checkpoints()[name].perturbed()
    if frame is None:
        return None
    return {p: read_only(values) for p, values in probabilities_of(split_logits(frame, split)).items()}


@st.cache_resource(show_spinner=False, max_entries=256)
def robustness_rows(name: str, split: str, threshold: float) -> tuple:
    """Sensitivity, specificity (with bootstrap intervals) and the card's AUC under each perturbation, at a threshold:
    frozen rows of read-only mappings, shared by every session."""
    from core.robustness import robustness_rows as rows_at

    view = split_view(name, split)
    return tuple(rows_at(view.labels, perturbed_probabilities(name, split), threshold, view.indices, card(name).robustness.auc[split]))
