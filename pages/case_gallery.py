import numpy as np
import streamlit as st

import ui
from core.case_report import CaseReport
from core.imaging import display_image, overlay
from core.inference import read
from core.reporting import CLASS_NAMES, OUTCOME_LABELS, OUTCOMES, outcomes

ui.through_entry_script(__file__)

PAGE_SIZE = 48
PER_ROW = 8
CASE = "gallery_case"

st.title("Case gallery")
left, right = st.columns(2)
name = left.selectbox("Model", ui.require_models(), format_func=ui.display_name, key="gallery_model", persist_state="session")
with right:
    threshold = ui.threshold_slider(name, "gallery")
view = ui.split_view(name, "test")
images, _ = ui.test_images()
outcome = outcomes(view.labels, view.scores, threshold)
counts = {o: int((outcome == o).sum()) for o in OUTCOMES}
chosen = st.radio("Test cases", OUTCOMES, index=2, horizontal=True, key="gallery_outcome",
                  format_func=lambda o: f"{OUTCOME_LABELS[o]}: {counts[o]}")

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
        column.image(ui.enlarge(images[index], 4), width="stretch")
        column.button(f"#{index} · {view.scores[index]:.2f}", key=f"pick_{index}", width="stretch",
                      type="primary" if index == st.session_state[CASE] else "secondary",
                      on_click=st.session_state.__setitem__, args=(CASE, int(index)))

case = st.session_state[CASE]
model = ui.model(name)
if model is None:
    st.stop()
reading = read(model, images[case], threshold)
big = display_image(images[case], 336)
st.subheader(f"Test case #{case}, labelled {CLASS_NAMES[int(view.labels[case])].lower()}")
ui.raw_toggle()


@st.fragment
def heatmap() -> None:
    """Only this part reruns when the opacity moves: no Grad-CAM again."""
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cam_opacity", persist_state="session")
    a, b, c = st.columns([1, 1, 1])
    a.image(big, caption=f"Test #{case}: labelled {CLASS_NAMES[int(view.labels[case])].lower()}")
    b.image(overlay(big, reading.heatmap, opacity), caption=f"Grad-CAM for “{CLASS_NAMES[reading.predicted_class].lower()}”")
    with c:
        ui.show_reading(name, reading, threshold)
    ui.heatmap_legend()
    ui.report_downloads(lambda: report(opacity), key="gallery_report")


def report(opacity: float) -> CaseReport:
    """Every model's reading of this case, at each model's current threshold."""
    names = ui.model_names()
    thresholds = {n: ui.current_threshold(n) for n in names}
    readings = {n: read(m, images[case], thresholds[n]) for n in names if (m := ui.model(n)) is not None}
    return CaseReport(title=f"Case report: PneumoniaMNIST test case #{case}", source="PneumoniaMNIST test split, 28×28",
                      model_input=images[case], square=big, readings=ui.model_readings(readings, thresholds, big, opacity),
                      gate="")


heatmap()
