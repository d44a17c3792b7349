import numpy as np
import pandas as pd
import streamlit as st

import ui
from core.figures import class_counts_figure, training_history_figure
from core.registry import spec
from core.reporting import CLASS_NAMES, model_overview_table

ui.through_entry_script(__file__)

st.title("Pneumonia X-ray Explorer")
st.warning(ui.DISCLAIMER, icon=":material/info:")
names = ui.require_models()
st.markdown(
    f"Each of the {len(names)} classifiers here decides whether a child's chest X-ray shows **pneumonia**: "
    + "; ".join(f"**{ui.display_name(n)}**, {spec(n).description[0].lower()}{spec(n).description[1:].rstrip('.')}" for n in names)
    + ". Explore how the decision threshold trades missed pneumonia against healthy children flagged, compare the "
    "models, see where each one looks, and how far their probabilities can be trusted.")

st.header("The data")
counts = ui.card(names[0]).data.class_counts
left, right = st.columns([3, 2])
sizes = {split: c.normal + c.pneumonia for split, c in counts.items()}
total = sum(sizes.values())
gap = "; ".join(f"{ui.display_name(n)} AUC {ui.card(n).metrics.val.auc:.3f} on validation, "
                f"{ui.card(n).metrics.test.auc:.3f} on test" for n in names)
left.markdown(
    f"**PneumoniaMNIST** (MedMNIST v2, CC BY 4.0) holds {total:,} paediatric chest X-rays from one centre "
    "(Guangzhou Women and Children's Medical Center), shrunk to **28×28 pixels**, in fixed splits. "
    f"Validation was carved out of the same source set as training ({sizes['train'] / sizes['val']:.0f}:1), while test "
    "is the source's own held-out set, "
    f"and it shows: {gap}. Thresholds are chosen on validation and judged on test."
)
left.table(pd.DataFrame(
    [{"Split": split, "Normal": c.normal, "Pneumonia": c.pneumonia, "Pneumonia share": f"{c.pneumonia / (c.normal + c.pneumonia):.1%}"}
     for split, c in counts.items()]).set_index("Split"))
with right:
    ui.chart(class_counts_figure(counts), key="class_counts")

st.subheader("Examples from the test split")
images, labels = ui.test_images()
for label, name in enumerate(CLASS_NAMES):
    picks = np.flatnonzero(labels == label)[:10]
    st.image([ui.enlarge(images[i], 4) for i in picks], caption=[f"{name} · test #{i}" for i in picks], width=96)

st.header("The models")
st.table(model_overview_table([ui.card(n) for n in names]).set_index("Model"))
ui.define("AUC")
for name in names:
    card = ui.card(name)
    with st.expander(f"{ui.display_name(name)}: training curves and departures from the report"):
        ui.chart(training_history_figure(card.training.history), key=f"history_{name}")
        st.markdown("\n".join(f"- {note}" for note in card.departures_from_report))
