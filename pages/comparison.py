import numpy as np
import pandas as pd
import streamlit as st

import ui
from core.evaluation import BOOTSTRAP_RESAMPLES
from core.figures import RocCurve, confusion_matrix_figure, roc_figure
from core.metrics import is_positive, metrics_at
from core.reporting import CLASS_NAMES, comparison_table, decision, difference_table, error_sentence

ui.through_entry_script(__file__)

st.title("Compare models")
names = ui.require_models(minimum=2)
pick_first, pick_second, pick_split = st.columns(3)
first = pick_first.selectbox("Model A", names, index=0, format_func=ui.display_name, key="compare_first", persist_state="session")
second = pick_second.selectbox("Model B", names, index=1, format_func=ui.display_name, key="compare_second", persist_state="session")
split = pick_split.radio("Split", list(ui.SPLIT_LABELS), format_func=ui.SPLIT_LABELS.get, horizontal=True, key="comparison_split",
                         persist_state="session")
if first == second:
    st.info("Pick two different models to compare.")
    st.stop()
pair = [first, second]

with st.container(border=True):
    sliders = st.columns(2)
    for column, name in zip(sliders, pair):
        with column:
            st.markdown(f"**{ui.display_name(name)}**")
            ui.threshold_slider(name, "compare")
    st.button("Reset both to the operating points chosen on validation", on_click=ui.reset_thresholds, args=(pair,),
              key="compare_reset", icon=":material/restart_alt:")
    st.caption("Each model's threshold is shared with every page (explorer, gallery, Predict).")

thresholds = [ui.current_threshold(n) for n in pair]
views = [ui.split_view(n, split) for n in pair]
points = [metrics_at(v.labels, v.scores, t) for v, t in zip(views, thresholds)]
for column, name, point, threshold in zip(st.columns(2), pair, points, thresholds):
    with column:
        ui.chart(confusion_matrix_figure(point, f"{ui.display_name(name)} at {threshold:.3f}"), key=f"confusion_{name}")
        st.markdown(error_sentence(point, ui.display_name(name)))

roc, significance = st.columns(2)
with roc:
    curves = [RocCurve.at(ui.display_name(n), v.sweep, v.auc, p, t, ui.colour(n)) for n, v, p, t in zip(pair, views, points, thresholds)]
    ui.chart(roc_figure(curves, "ROC curves and operating points"), key="roc_overlay")
with significance:
    st.subheader("Is the difference real?")
    differences = ui.paired_differences(first, second, split, thresholds[0], thresholds[1])
    st.table(difference_table(differences, ui.display_name(first), ui.display_name(second)).set_index("Metric"))
    st.caption(f"Paired stratified bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples of the same cases for both models): a "
               "difference is beyond chance when its 95% interval excludes zero.")
    ui.define("AUC")

st.subheader("Side by side")
st.table(comparison_table([ui.card(n) for n in pair], points, [v.auc for v in views], thresholds).set_index("Aspect"))
ui.define("PPV", "NPV")

st.subheader("Where the models disagree")
calls = [is_positive(v.scores, t) for v, t in zip(views, thresholds)]
disagree = np.flatnonzero(calls[0] != calls[1])
labels = views[0].labels
st.markdown(f"**{len(disagree)}** of {len(labels)} {ui.SPLIT_LABELS[split].lower()} cases get different decisions.")
if len(disagree):
    table = pd.DataFrame({"Case": disagree, "Truth": np.array(CLASS_NAMES)[labels[disagree].astype(int)]})
    for name, view, threshold in zip(pair, views, thresholds):
        table[f"{ui.display_name(name)} P(pneumonia)"] = view.scores[disagree].round(3)
        table[f"{ui.display_name(name)} says"] = [decision(p, threshold) for p in view.scores[disagree]]
    st.dataframe(table, hide_index=True)
    if split == "test":
        images, _ = ui.test_images()
        shown = disagree[:16]
        st.image([ui.enlarge(images[i], 4) for i in shown], caption=[f"#{i} · truth {'P' if labels[i] else 'N'}" for i in shown], width=96)
