"""Pneumonia X-ray Explorer. Run with: streamlit run streamlit_app.py"""

import os

import streamlit as st

import ui

st.set_page_config(page_title="Pneumonia X-ray Explorer", page_icon=ui.page_icon(), layout="wide")
PAGES = {  # file in pages/ -> page
    "overview.py": st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    "threshold_explorer.py": st.Page("pages/threshold_explorer.py", title="Threshold explorer", icon=":material/tune:"),
    "comparison.py": st.Page("pages/comparison.py", title="Compare models", icon=":material/compare:"),
    "predict.py": st.Page("pages/predict.py", title="Predict an X-ray", icon=":material/upload_file:"),
    "case_gallery.py": st.Page("pages/case_gallery.py", title="Case gallery", icon=":material/grid_view:"),
    "calibration.py": st.Page("pages/calibration.py", title="Calibration", icon=":material/target:"),
    "decision_curve.py": st.Page("pages/decision_curve.py", title="Decision curve", icon=":material/show_chart:"),
    "model_card.py": st.Page("pages/model_card.py", title="Model card", icon=":material/badge:"),
}
page = st.navigation(list(PAGES.values()))
st.session_state[ui.ENTRY_RAN] = True
requested = PAGES.get(st.session_state.pop(ui.DEEP_LINK, ""))
if requested is not None and requested.url_path != page.url_path:  # a page URL opened first (see ui.through_entry_script)
    st.switch_page(requested)
st.sidebar.caption(ui.DISCLAIMER)
ui.sync_query_params()
try:
    page.run()
except Exception:  # st.stop, st.rerun and st.switch_page are BaseExceptions and pass through
    ui.log.exception("page %s failed", page.title)
    if os.environ.get(ui.RAISE_PAGE_ERRORS_ENV) == "1":  # the tests: a page error must fail them, not become a sentence
        raise
    st.error(ui.PAGE_ERROR, icon=":material/error:")
