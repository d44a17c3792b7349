import numpy as np
import pandas as pd
import streamlit as st

import ui
from core.calibration import FOLDS, bootstrap_intervals, brier, cross_validated, fit_platt, fit_temperature, prior_shift, reliability
from core.figures import ReliabilityCurve, reliability_figure
from core.reporting import GLOSSARY

ui.through_entry_script(__file__)

st.title("Can I trust the number?")
names = ui.require_models()
st.markdown(
    "A probability is worth its number when, among the children given 0.8, about 80% have pneumonia. The models were "
    "trained with a class-weighted loss and validated on a split they almost separate, so their raw scores are not "
    "calibrated by construction. Each is recalibrated on **validation only**; test shows how that carries over.")

split = st.radio("Split", list(ui.SPLIT_LABELS), format_func=ui.SPLIT_LABELS.get, horizontal=True, key="calibration_split",
                 persist_state="session")
scale = st.segmented_control("Probabilities", ["Calibrated", "Raw model score"], default="Calibrated", key="calibration_scale",
                             help=GLOSSARY["Calibrated probability"]) or "Calibrated"
views = {name: ui.split_view(name, split) for name in names}


def shown(name: str) -> np.ndarray:
    return views[name].calibrated if scale == "Calibrated" else views[name].scores


curves = [ReliabilityCurve(ui.display_name(n), reliability(views[n].labels, shown(n)), ui.colour(n)) for n in names]
ui.chart(reliability_figure(curves, f"Reliability on {ui.SPLIT_LABELS[split].lower()} ({scale.lower()})"), key="reliability")
st.caption("Each point is a bin of cases with similar predicted probability (marker area and the bars below: how many). "
           "On the dotted line, predicted and observed agree.")

rows = []
for name in names:
    view = views[name]
    for label, probabilities in (("Raw model score", view.scores), ("Calibrated", view.calibrated)):
        intervals = bootstrap_intervals(view.labels, probabilities, view.indices)
        rows.append({"Model": ui.display_name(name), "Probabilities": label,
                     "ECE": f"{reliability(view.labels, probabilities).ece:.3f} ({intervals['ece'][0]:.3f}–{intervals['ece'][1]:.3f})",
                     "Brier score": f"{brier(view.labels, probabilities):.3f} ({intervals['brier'][0]:.3f}–{intervals['brier'][1]:.3f})"})
st.subheader(f"Calibration on {ui.SPLIT_LABELS[split].lower()}, with bootstrap 95% intervals")
st.table(pd.DataFrame(rows).set_index(["Model", "Probabilities"]))
st.caption(f"**ECE**: {GLOSSARY['ECE']} **Brier**: {GLOSSARY['Brier']}")

st.subheader("Which recalibration, and why")
method_rows = []
for name in names:
    val, test = ui.predictions(name, "val"), ui.predictions(name, "test")
    for method, fit in (("None (raw score)", None), ("Temperature scaling (used)", fit_temperature), ("Platt scaling", fit_platt)):
        fitted = fit(val["label"], val["logit"]) if fit else None
        on = (lambda frame: fitted(frame["logit"])) if fitted else (lambda frame: frame["probability"])  # noqa: E731
        cross = cross_validated(val["label"], val["logit"], fit) if fit else None
        method_rows.append({"Model": ui.display_name(name), "Method": method,
                            "Validation ECE (fitted there)": f"{reliability(val['label'], on(val)).ece:.3f}",
                            f"Validation log-loss ({FOLDS}-fold)": f"{cross['log_loss']:.4f}" if cross else "—",
                            "Test ECE": f"{reliability(test['label'], on(test)).ece:.3f}"})
st.table(pd.DataFrame(method_rows).set_index(["Model", "Method"]))
st.markdown(ui.card(names[0]).calibration.why)
for name in names:
    record = ui.card(name).calibration
    st.caption(f"{ui.display_name(name)}: probability = sigmoid({record.slope:.3f} × logit), fitted on {record.fitted_on} "
               f"({record.fitted_prevalence:.1%} pneumonia). The raw scores stay one click away, above.")

st.subheader("What a different prevalence does to a probability")
fitted = ui.card(names[0]).calibration.fitted_prevalence
tests = {name: ui.split_view(name, "test") for name in names}
test_prevalence = float(np.mean(tests[names[0]].labels))
prevalence = st.slider("Share of children with pneumonia where the model is used (%)", 1, 99, round(100 * test_prevalence),
                       key="calibration_prevalence", help=f"Validation: {fitted:.1%}; test: {test_prevalence:.1%}.") / 100
examples = np.array([0.2, 0.5, 0.8, 0.95])
st.table(pd.DataFrame({"Calibrated (validation's prevalence)": [f"{p:.2f}" for p in examples],
                       f"At {prevalence:.0%} prevalence": [f"{p:.2f}" for p in prior_shift(examples, fitted, prevalence)]}))
shifts = []
for name, view in tests.items():
    before = reliability(view.labels, view.calibrated).ece
    after = reliability(view.labels, prior_shift(view.calibrated, fitted, test_prevalence)).ece
    shifts.append(f"{ui.display_name(name)} ECE {before:.3f} → {after:.3f}")
st.markdown(f"Calibrated probabilities assume validation's {fitted:.1%} pneumonia; Bayes' rule carries them to another "
            f"population. Moved to test's {test_prevalence:.1%}: {'; '.join(shifts)}.")
