import numpy as np
import pandas as pd
import streamlit as st

from core.evaluation import BOOTSTRAP_RESAMPLES
from core.figures import RocCurve, confusion_alt, confusion_matrix_figure, roc_alt, roc_figure
from core.metrics import is_positive, metrics_at
from core.reporting import CLASS_NAMES, comparison_table, decision, difference_table, error_sentence
from ui import resources, routing, state, widgets

routing.enter(__file__)

st.title("Compare models")
names = widgets.require_models(minimum=2)
for key, default in (("compare_first", names[0]), ("compare_second", names[1])):  # defaults through the state, as links set them
    if st.session_state.get(key) not in names:
        st.session_state[key] = default
pick_first, pick_second, pick_split = st.columns(3)
first = pick_first.selectbox("Model A", names, format_func=resources.display_name, key="compare_first", persist_state="session")
second = pick_second.selectbox("Model B", names, format_func=resources.display_name, key="compare_second", persist_state="session")
split = pick_split.radio("Split", list(state.SPLIT_LABELS), format_func=state.SPLIT_LABELS.get, horizontal=True, key="comparison_split",
                         persist_state="session")
if first == second:
    st.info("Pick two different models to compare.")
    st.stop()
pair = [first, second]

with st.container(border=True):
    sliders = st.columns(2)
    for column, name in zip(sliders, pair):
        with column:
            st.markdown(f"**{resources.display_name(name)}**")
            widgets.threshold_slider(name, "compare")
    st.button("Reset both to the operating points chosen on validation", on_click=state.reset_thresholds, args=(pair,),
              key="compare_reset", icon=":material/restart_alt:")
    st.caption("Each model's threshold is shared with every page (explorer, gallery, Predict).")

thresholds = [state.current_threshold(n) for n in pair]
views = [resources.split_view(n, split) for n in pair]
points = [metrics_at(v.labels, v.scores, t) for v, t in zip(views, thresholds)]
for column, name, point, threshold in zip(st.columns(2), pair, points, thresholds):
    with column:
        widgets.chart(confusion_matrix_figure(point, f"{resources.display_name(name)} at {threshold:.3f}"), key=f"confusion_{name}",
                      alt=f"{resources.display_name(name)}: " + confusion_alt(point, threshold))
        st.markdown(error_sentence(point, resources.display_name(name)))

roc, significance = st.columns(2)
with roc:
    curves = [RocCurve.at(resources.display_name(n), v.sweep, v.auc, p, t, resources.colour(n)) for n, v, p, t in zip(pair, views, points, thresholds)]
    widgets.chart(roc_figure(curves, "ROC curves and operating points"), key="roc_overlay",
                  alt=" ".join(roc_alt(resources.display_name(n), v.auc, p) for n, v, p in zip(pair, views, points)))
with significance:
    st.header("Is the difference real?")
    differences = resources.paired_differences(first, second, split, thresholds[0], thresholds[1])
    st.table(difference_table(differences, resources.display_name(first), resources.display_name(second)).set_index("Metric"))
    st.caption(f"Paired stratified bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples of the same cases for both models): a "
               "difference is beyond chance when its 95% interval excludes zero.")
    widgets.define("AUC")

st.header("Side by side")
st.table(comparison_table([resources.card(n) for n in pair], points, [v.auc for v in views], thresholds).set_index("Aspect"))
widgets.define("PPV", "NPV")

st.header("Where the models disagree")
calls = [is_positive(v.scores, t) for v, t in zip(views, thresholds)]
disagree = np.flatnonzero(calls[0] != calls[1])
labels = views[0].labels
st.markdown(f"**{len(disagree)}** of {len(labels)} {state.SPLIT_LABELS[split].lower()} cases get different decisions.")
if len(disagree):
    table = pd.DataFrame({"Case": disagree, "Truth": np.array(CLASS_NAMES)[labels[disagree].astype(int)]})
    for name, view, threshold in zip(pair, views, thresholds):
        table[f"{resources.display_name(name)} P(pneumonia)"] = view.scores[disagree].round(3)
        table[f"{resources.display_name(name)} says"] = [decision(p, threshold) for p in view.scores[disagree]]
    st.dataframe(table, hide_index=True)
    if split == "test":
        images, _ = resources.test_images()
        shown = disagree[:16]
        widgets.image([widgets.enlarge(images[i], 4) for i in shown], caption=[f"#{i} · truth {'P' if labels[i] else 'N'}" for i in shown],
                      width=96, alt=[f"Test case {i}, labelled {CLASS_NAMES[int(labels[i])].lower()}, on which the models disagree" for i in shown])
