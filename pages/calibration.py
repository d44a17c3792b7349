import numpy as np
import pandas as pd
import streamlit as st

from core.calibration import FOLDS, brier, prior_shift, reliability
from core.figures import ReliabilityCurve, reliability_figure
from core.reporting import GLOSSARY
from ui import resources, routing, state, widgets

routing.enter(__file__)

st.title("Can I trust the number?")
names = widgets.require_models()
st.markdown(
    "A probability is worth its number when, among the children given 0.8, about 80% have pneumonia. The models were "
    "trained with a class-weighted loss and validated on a split they almost separate, so their raw scores are not "
    "calibrated by construction. Each is recalibrated on **validation only**; test shows how that carries over.")

split = st.radio("Split", list(state.SPLIT_LABELS), format_func=state.SPLIT_LABELS.get, horizontal=True, key="calibration_split",
                 persist_state="session")
st.session_state.setdefault("calibration_scale", state.CALIBRATION_SCALES[0])  # through the state, as links set it
scale = st.segmented_control("Probabilities", state.CALIBRATION_SCALES, key="calibration_scale",
                             help=GLOSSARY["Calibrated probability"]) or state.CALIBRATION_SCALES[0]  # none chosen: calibrated
views = {name: resources.split_view(name, split) for name in names}


def shown(name: str) -> np.ndarray:
    return views[name].calibrated if scale == state.CALIBRATION_SCALES[0] else views[name].scores


curves = [ReliabilityCurve(resources.display_name(n), reliability(views[n].labels, shown(n)), resources.colour(n)) for n in names]
where = f"{state.SPLIT_LABELS[split].lower()} ({scale.lower()})"
widgets.chart(reliability_figure(curves, f"Reliability on {where}"), key="reliability",
              alt=f"Reliability diagram on {where}: observed share with pneumonia against mean predicted probability in ten "
                  "bins, one line per model, beside the diagonal of perfect calibration. ECE: "
                  + "; ".join(f"{c.name} {c.reliability.ece:.3f}" for c in curves) + ".")
st.caption("Each point is a bin of cases with similar predicted probability (marker area and the bars below: how many). "
           "On the dotted line, predicted and observed agree.")

rows = []
for name in names:
    view, intervals = views[name], resources.calibration_intervals(name, split)
    for label, scale_key, probabilities in (("Raw model score", "raw", view.scores), ("Calibrated", "calibrated", view.calibrated)):
        ece, brier_ci = intervals[scale_key]["ece"], intervals[scale_key]["brier"]
        rows.append({"Model": resources.display_name(name), "Probabilities": label,
                     "ECE": f"{reliability(view.labels, probabilities).ece:.3f} ({ece[0]:.3f}–{ece[1]:.3f})",
                     "Brier score": f"{brier(view.labels, probabilities):.3f} ({brier_ci[0]:.3f}–{brier_ci[1]:.3f})"})
st.header(f"Calibration on {state.SPLIT_LABELS[split].lower()}, with bootstrap 95% intervals")
st.table(pd.DataFrame(rows).set_index(["Model", "Probabilities"]))
st.caption(f"**ECE**: {GLOSSARY['ECE']} **Brier**: {GLOSSARY['Brier']}")

st.header("Which recalibration, and why")
METHOD_LABELS = {"none": "None (raw score)", "temperature": "Temperature scaling (used)", "platt": "Platt scaling"}
st.table(pd.DataFrame([
    {"Model": resources.display_name(name), "Method": METHOD_LABELS[row.method], "Validation ECE (fitted there)": f"{row.validation_ece:.3f}",
     f"Validation log-loss ({FOLDS}-fold)": "—" if row.cross_validated_log_loss is None else f"{row.cross_validated_log_loss:.4f}",
     "Test ECE": f"{row.test_ece:.3f}"}
    for name in names for row in resources.recalibration_methods(name)]).set_index(["Model", "Method"]))
st.markdown(resources.card(names[0]).calibration.why)
for name in names:
    record = resources.card(name).calibration
    st.caption(f"{resources.display_name(name)}: probability = sigmoid({record.slope:.3f} × logit), fitted on {record.fitted_on} "
               f"({record.fitted_prevalence:.1%} pneumonia). The raw scores stay one click away, above.")

st.header("What a different prevalence does to a probability")
fitted = resources.card(names[0]).calibration.fitted_prevalence
tests = {name: resources.split_view(name, "test") for name in names}
test_prevalence = float(np.mean(tests[names[0]].labels))
st.session_state.setdefault("calibration_prevalence", round(100 * test_prevalence))  # through the state, as links set it
prevalence = st.slider("Share of children with pneumonia where the model is used (%)", 1, 99, key="calibration_prevalence",
                       help=f"Validation: {fitted:.1%}; test: {test_prevalence:.1%}.") / 100
examples = np.array([0.2, 0.5, 0.8, 0.95])
st.table(pd.DataFrame({"Calibrated (validation's prevalence)": [f"{p:.2f}" for p in examples],
                       f"At {prevalence:.0%} prevalence": [f"{p:.2f}" for p in prior_shift(examples, fitted, prevalence)]}))
shifts = []
for name, view in tests.items():
    before = reliability(view.labels, view.calibrated).ece
    after = reliability(view.labels, prior_shift(view.calibrated, fitted, test_prevalence)).ece
    shifts.append(f"{resources.display_name(name)} ECE {before:.3f} → {after:.3f}")
st.markdown(f"Calibrated probabilities assume validation's {fitted:.1%} pneumonia; Bayes' rule carries them to another "
            f"population. Moved to test's {test_prevalence:.1%}: {'; '.join(shifts)}.")
