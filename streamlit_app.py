"""Pneumonia X-ray Explorer. Run with: streamlit run streamlit_app.py"""

import streamlit as st

from core.reporting import DISCLAIMER
from ui import resources, routing

st.set_page_config(page_title="Pneumonia X-ray Explorer", page_icon=resources.page_icon(), layout="wide")
PAGES = {  # file in pages/ -> page
    "overview.py": st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    "threshold_explorer.py": st.Page("pages/threshold_explorer.py", title="Threshold explorer", icon=":material/tune:"),
    "comparison.py": st.Page("pages/comparison.py", title="Compare models", icon=":material/compare:"),
    "predict.py": st.Page("pages/predict.py", title="Predict an X-ray", icon=":material/upload_file:"),
    "evaluate.py": st.Page("pages/evaluate.py", title="Evaluate on your X-rays", icon=":material/folder_zip:"),
    "case_gallery.py": st.Page("pages/case_gallery.py", title="Case gallery", icon=":material/grid_view:"),
    "robustness.py": st.Page("pages/robustness.py", title="Does it hold up?", icon=":material/crop_free:"),
    "heatmap_trust.py": st.Page("pages/heatmap_trust.py", title="Can I trust the heatmap?", icon=":material/visibility:"),
    "calibration.py": st.Page("pages/calibration.py", title="Calibration", icon=":material/target:"),
    "decision_curve.py": st.Page("pages/decision_curve.py", title="Decision curve", icon=":material/show_chart:"),
    "model_card.py": st.Page("pages/model_card.py", title="Model card", icon=":material/badge:"),
}
page = st.navigation(list(PAGES.values()))
st.session_state[routing.ENTRY_RAN] = True
requested = PAGES.get(routing.requested_page())
if requested is not None and requested.url_path != page.url_path:  # a page URL opened first (see ui.routing)
    st.switch_page(requested)
st.sidebar.caption(DISCLAIMER)
try:
    page.run()
except Exception:  # st.stop, st.rerun and st.switch_page are BaseExceptions and pass through
    resources.log.exception("page %s failed", page.title)
    if routing.raise_page_errors():  # the tests: a page error must fail them, not become a sentence
        raise
    st.error(routing.PAGE_ERROR, icon=":material/error:")
