import numpy as np
import streamlit as st

from core import case_report
from core.gate import check_dataset_image, summary
from core.imaging import display_image, overlay
from core.reporting import CLASS_NAMES, OUTCOME_LABELS, OUTCOMES, outcomes
from ui import resources, routing, state, widgets

routing.enter(__file__)

PAGE_SIZE = 48
PER_ROW = 8
CASE = "gallery_case"

st.title("Case gallery")
left, right = st.columns(2)
name = left.selectbox("Model", widgets.require_models(), format_func=resources.display_name, key="gallery_model", persist_state="session")
with right:
    threshold = widgets.threshold_slider(name, "gallery")
view = resources.split_view(name, "test")
images, _ = resources.test_images()
outcome = outcomes(view.labels, view.scores, threshold)
counts = {o: int((outcome == o).sum()) for o in OUTCOMES}
st.session_state.setdefault("gallery_outcome", "FN")  # the missed pneumonias first; through the state, as links set it
chosen = st.radio("Test cases", OUTCOMES, horizontal=True, key="gallery_outcome", format_func=lambda o: f"{OUTCOME_LABELS[o]}: {counts[o]}")

# Most confident first: for errors, the ones the model was surest about.
cases = np.flatnonzero(outcome == chosen)
cases = cases[np.argsort(-np.abs(view.scores[cases] - threshold), kind="stable")]
if not len(cases):
    st.info("No test cases in this group at this threshold.")
    st.stop()
pages = (len(cases) - 1) // PAGE_SIZE + 1
page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="gallery_page") if pages > 1 else 1
shown = cases[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
if st.session_state.get(CASE) not in cases:
    st.session_state[CASE] = int(shown[0])

st.caption("Click a case's number to inspect it.")
for start in range(0, len(shown), PER_ROW):
    for column, index in zip(st.columns(PER_ROW), shown[start:start + PER_ROW]):
        with column:
            widgets.image(widgets.enlarge(images[index], 4), width="stretch",
                          alt=f"Test case {index}, labelled {CLASS_NAMES[int(view.labels[index])].lower()}, "
                              f"probability of pneumonia {view.scores[index]:.2f}")
        column.button(f"#{index} · {view.scores[index]:.2f}", key=f"pick_{index}", width="stretch",
                      type="primary" if index == st.session_state[CASE] else "secondary",
                      on_click=st.session_state.__setitem__, args=(CASE, int(index)))

case = st.session_state[CASE]
model = resources.model(name)
if model is None:
    st.stop()
reading = model.read(images[case], threshold)
big = display_image(images[case], 336)
label = CLASS_NAMES[int(view.labels[case])].lower()
st.header(f"Test case #{case}, labelled {label}")
widgets.raw_toggle()


@st.fragment
def heatmap() -> None:
    """Only this part reruns when the opacity moves: no Grad-CAM again."""
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cam_opacity", persist_state="session")
    a, b, c = st.columns([1, 1, 1])
    decided = CLASS_NAMES[reading.predicted_class].lower()
    with a:
        widgets.image(big, caption=f"Test #{case}: labelled {label}", alt=f"Chest X-ray, test case {case}, labelled {label}, enlarged from 28×28")
    with b:
        widgets.image(overlay(big, reading.heatmap, opacity), caption=f"Grad-CAM for “{decided}”",
                      alt=f"The same X-ray with {resources.display_name(name)}'s Grad-CAM heatmap for “{decided}”: red where it found most evidence")
    with c:
        widgets.show_reading(name, reading, threshold)
    widgets.heatmap_legend()
    widgets.report_downloads(lambda: report(opacity), key="gallery_report")


def report(opacity: float) -> case_report.CaseReport:
    """Every model's reading of this case, at each model's current threshold, with the gate's verdict on it."""
    names = resources.model_names()
    thresholds = {n: state.current_threshold(n) for n in names}
    readings = {n: m.read(images[case], thresholds[n]) for n in names if (m := resources.model(n)) is not None}
    return case_report.build(f"Case report: PneumoniaMNIST test case #{case}", "PneumoniaMNIST test split, 28×28", images[case], big,
                             readings, {n: resources.card(n) for n in readings}, thresholds, opacity,
                             summary(check_dataset_image(images[case], resources.neighbourhood())))


heatmap()
