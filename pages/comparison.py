import numpy as np
import pandas as pd
import streamlit as st

import ui
from core.figures import RocCurve, confusion_matrix_figure, roc_figure
from core.metrics import is_positive, metrics_at
from core.reporting import CLASS_NAMES, comparison_table, decision, difference_table, error_sentence

ui.through_entry_script(__file__)

st.title("Compare models")
names = ui.require_models(minimum=2)
split = st.radio("Split", list(ui.SPLIT_LABELS), format_func=ui.SPLIT_LABELS.get, horizontal=True, key="comparison_split",
                 persist_state="session")
thresholds = [ui.current_threshold(n) for n in names]
views = [ui.split_view(n, split) for n in names]
points = [metrics_at(v.labels, v.scores, t) for v, t in zip(views, thresholds)]
st.caption("Each model at its own current threshold (set on the Threshold explorer).")

for column, name, point, threshold in zip(st.columns(len(names)), names, points, thresholds):
    column.plotly_chart(confusion_matrix_figure(point, f"{ui.display_name(name)} at {threshold:.3f}"), key=f"confusion_{name}")
    column.markdown(error_sentence(point, ui.display_name(name)))

curves = [RocCurve.at(ui.display_name(n), v.sweep, v.auc, p, t, ui.colour(n))
          for n, v, p, t in zip(names, views, points, thresholds)]
roc, significance = st.columns(2)
roc.plotly_chart(roc_figure(curves, "ROC curves and operating points"), key="roc_overlay")
if len(names) == 2:
    significance.subheader("Is the difference real?")
    differences = ui.paired_differences(names[0], names[1], split, thresholds[0], thresholds[1])
    significance.dataframe(difference_table(differences, ui.display_name(names[0]), ui.display_name(names[1])), hide_index=True)
    significance.caption("Paired stratified bootstrap (2,000 resamples of the same cases for both models): a difference "
                         "is beyond chance when its 95% interval excludes zero.")

st.subheader("Side by side")
st.dataframe(comparison_table([ui.card(n) for n in names], points, [v.auc for v in views], thresholds), hide_index=True, height="content")

if len(names) == 2:
    st.subheader("Where the models disagree")
    calls = [is_positive(v.scores, t) for v, t in zip(views, thresholds)]
    disagree = np.flatnonzero(calls[0] != calls[1])
    labels = views[0].labels
    st.markdown(f"**{len(disagree)}** of {len(labels)} {ui.SPLIT_LABELS[split].lower()} cases get different decisions.")
    if len(disagree):
        table = pd.DataFrame({"Case": disagree, "Truth": np.array(CLASS_NAMES)[labels[disagree].astype(int)]})
        for name, view, threshold in zip(names, views, thresholds):
            table[f"{ui.display_name(name)} P(pneumonia)"] = view.scores[disagree].round(3)
            table[f"{ui.display_name(name)} says"] = [decision(p, threshold) for p in view.scores[disagree]]
        st.dataframe(table, hide_index=True)
        if split == "test":
            images, _ = ui.test_images()
            shown = disagree[:16]
            st.image([ui.enlarge(images[i], 4) for i in shown],
                     caption=[f"#{i} · truth {'P' if labels[i] else 'N'}" for i in shown], width=96)
