import numpy as np
import streamlit as st

import ui
from core.imaging import display_image, overlay
from core.inference import read
from core.reporting import CLASS_NAMES, OUTCOME_LABELS, OUTCOMES, outcomes

ui.through_entry_script(__file__)

PAGE_SIZE = 48

st.title("Case gallery")
left, right = st.columns(2)
name = left.selectbox("Model", ui.require_models(), format_func=ui.display_name, key="gallery_model", persist_state="session")
with right:
    threshold = ui.threshold_slider(name)
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
st.image([ui.enlarge(images[i], 4) for i in shown], caption=[f"#{i} · {view.scores[i]:.3f}" for i in shown], width=96)

case = st.selectbox("Inspect a case", cases, key="gallery_case", format_func=lambda i: f"#{i} · P(pneumonia) {view.scores[i]:.3f}")
model = ui.model(name)
if model is None:
    st.stop()
reading = read(model, images[case], threshold)
big = display_image(images[case], 336)


@st.fragment
def heatmap() -> None:
    """Only this part reruns when the opacity moves: no Grad-CAM again."""
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cam_opacity", persist_state="session")
    a, b, c = st.columns([1, 1, 1])
    a.image(big, caption=f"Test #{case}: labelled {CLASS_NAMES[int(view.labels[case])].lower()}")
    b.image(overlay(big, reading.heatmap, opacity), caption=f"Grad-CAM for “{CLASS_NAMES[reading.predicted_class].lower()}”")
    c.metric(f"{ui.display_name(name)}: P(pneumonia)", f"{reading.probability:.3f}",
             f"{CLASS_NAMES[reading.predicted_class]} at {threshold:.3f}", delta_color="off", delta_arrow="off")


heatmap()
