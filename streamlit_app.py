"""Pneumonia X-ray Explorer. Run with: streamlit run streamlit_app.py"""

import core  # noqa: F401  (installs the torchvision shim before anything imports torchvision)
import streamlit as st

from core import dashboard as ui

st.set_page_config(page_title="Pneumonia X-ray Explorer", page_icon=":material/pulmonology:", layout="wide")
pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/threshold_explorer.py", title="Threshold explorer", icon=":material/tune:"),
    st.Page("pages/comparison.py", title="CNN vs ResNet-18", icon=":material/compare:"),
    st.Page("pages/predict.py", title="Predict an X-ray", icon=":material/upload_file:"),
    st.Page("pages/case_gallery.py", title="Case gallery", icon=":material/grid_view:"),
]
navigation = st.navigation(pages)
st.session_state[ui.ENTRY_RAN] = True
requested = st.session_state.pop(ui.DEEP_LINK, None)
if requested:  # a page URL opened first on a fresh server (see ui.through_entry_script)
    st.switch_page(next(page for page in pages if page.url_path == requested.removesuffix(".py")))
st.sidebar.caption(ui.DISCLAIMER)
navigation.run()
