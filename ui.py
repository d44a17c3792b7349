"""Streamlit glue shared by the pages: checked checkpoints, cached models, sweeps and resamples, and the one
current threshold per model (st.session_state["threshold_<model>"], kept across pages).

Everything cached with st.cache_resource is shared by every session's thread, so it is read-only: frozen
dataclasses, arrays marked unwriteable, models that inference never changes (see core.inference).
A broken checkpoint disables its model with a message; the other models and pages keep working.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core.cards import Card
from core.checkpoints import Checkpoint, CheckpointError, open_checkpoint, trained_models
from core.evaluation import OPERATING_POINT_HELP, OPERATING_POINT_LABELS, bootstrap_indices, recalibration, split_arrays
from core.metrics import Resamples, Sweep, interval, paired_bootstrap_differences, roc_auc, sweep
from core.registry import spec

TEST_IMAGES = Path(__file__).resolve().parent / "assets" / "pneumoniamnist_test.npz"
SPLIT_LABELS = {"test": "Test", "val": "Validation"}
DISCLAIMER = ("Research demonstration on a public dataset (PneumoniaMNIST: paediatric, one centre, 28×28 pixels). "
              "Not a medical device; not for diagnosis.")
log = logging.getLogger("pneumonia_explorer")


@st.cache_resource(show_spinner="Checking the checkpoints…")
def _checkpoints() -> dict[str, Checkpoint | CheckpointError]:
    """Every trained registry model's checkpoint, opened and checked once per process, or why it cannot be used.

    A registry model with no checkpoint folder is simply not trained yet, and not shown.
    """
    opened = {}
    for name, folder in trained_models().items():
        try:
            opened[name] = open_checkpoint(folder, expected_name=name)
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
    calibrated = _read_only(recalibration(card(name))(predictions.loc[predictions["split"] == split, "logit"].to_numpy()))
    indices = _read_only(bootstrap_indices(labels))
    resamples = Resamples.of(labels, scores, indices)
    return SplitView(labels, scores, calibrated, sweep(labels, scores), roc_auc(labels, scores), interval(resamples.auc()),
                     resamples, indices)


def predictions(name: str, split: str):
    """One split's rows of the committed predictions (a copy: the cached frame stays untouched)."""
    frame = _checkpoints()[name].predictions
    return frame[frame["split"] == split].copy()


def calibrated_threshold(name: str, threshold: float) -> float:
    """A threshold on the model's raw probability, as a calibrated probability (the map is monotonic)."""
    if threshold <= 0 or threshold >= 1:
        return threshold
    return float(recalibration(card(name))(np.log(threshold / (1 - threshold))))


def chart(figure, key: str) -> None:
    """A Plotly figure without its mode bar, which covers titles on narrow screens."""
    st.plotly_chart(figure, key=key, config={"displayModeBar": False, "responsive": True})


@st.cache_data(show_spinner="Paired bootstrap…", max_entries=64)
def paired_differences(first: str, second: str, split: str, threshold_first: float, threshold_second: float) -> dict:
    a, b = split_view(first, split), split_view(second, split)
    return paired_bootstrap_differences(a.labels, a.scores, b.scores, threshold_first, threshold_second)


@st.cache_resource(show_spinner=False)
def neighbourhood():
    """The out-of-distribution reference (core.ood), shared read-only."""
    from core.ood import Neighbourhood

    loaded = Neighbourhood.load()
    for array in (loaded.reference, loaded.validation_scores, loaded.mean_image):
        array.setflags(write=False)
    return loaded


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
    st.session_state[threshold_key(name)] = float(value)


def threshold_slider(name: str, label: str = "Decision threshold (probability of pneumonia)") -> float:
    current_threshold(name)
    return st.slider(label, 0.0, 1.0, step=0.001, format="%.3f", key=threshold_key(name), persist_state="session")


def preset_buttons(name: str) -> None:
    """One button per operating point chosen on validation; a click moves the model's threshold there."""
    thresholds = card(name).metrics.thresholds
    columns = st.columns(len(thresholds))
    for column, (point, value) in zip(columns, thresholds.items()):
        column.button(f"{OPERATING_POINT_LABELS[point]}: {value:.3f}", key=f"preset_{name}_{point}", on_click=set_threshold,
                      args=(name, value), width="stretch", help=OPERATING_POINT_HELP[point])


ENTRY_RAN = "_entry_script_ran"
DEEP_LINK = "_requested_page"


def through_entry_script(page_file: str) -> None:
    """Route a page request through streamlit_app.py when it bypassed it.

    Because the project has a pages/ folder, a fresh server starts in Streamlit's legacy mode, where a first
    request for a page URL runs that page alone: no navigation, no page config. Go through the entry script once
    (its st.navigation ends legacy mode for the process), which then forwards to the page that was asked for.
    """
    if ENTRY_RAN not in st.session_state:
        st.session_state[DEEP_LINK] = Path(page_file).name
        st.switch_page("streamlit_app.py")


def enlarge(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """Nearest-neighbour enlargement, so a 28x28 image shows its real pixels."""
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))
