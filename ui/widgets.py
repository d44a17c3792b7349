"""What the pages draw with: model pickers and warnings, threshold sliders and presets, charts and images that say
what they show (alternative text), the gate's verdict, readings, and the case-report downloads."""

import numpy as np
import streamlit as st

from core.evaluation import OPERATING_POINT_HELP, OPERATING_POINT_LABELS, preset_groups, recalibration
from core.reporting import CLASS_NAMES, GLOSSARY
from ui import resources, state


def require_models(minimum: int = 1) -> list[str]:
    """The usable models, after a warning for each disabled one; stops the page when fewer than minimum remain."""
    for problem in resources.checkpoint_problems():
        st.warning(problem, icon=":material/warning:")
    names = resources.model_names()
    if len(names) < minimum:
        st.error(f"This page needs {minimum} working model{'s' if minimum > 1 else ''}; {len(names)} "
                 f"{'is' if len(names) == 1 else 'are'} available.", icon=":material/error:")
        st.stop()
    return names


def define(*terms: str) -> None:
    """The glossary's words for the terms a table above uses, always visible (touch screens have no hover)."""
    st.caption(" ".join(f"**{term}**: {GLOSSARY[term]}" for term in terms))


def chart(figure, key: str, alt: str) -> None:
    """A Plotly figure without its mode bar (it covers titles on narrow screens), described for screen readers."""
    st.plotly_chart(figure, key=key, config={"displayModeBar": False, "responsive": True}, alt=alt)


def image(pixels, alt, caption=None, **options) -> None:
    """st.image with alternative text (one per image for a list): Streamlit's own would be the array's index."""
    st.image(pixels, caption=caption, alt=alt, **options)


def enlarge(pixels: np.ndarray, factor: int = 8) -> np.ndarray:
    """Nearest-neighbour enlargement, so a 28x28 image shows its real pixels."""
    return np.kron(pixels, np.ones((factor, factor), dtype=pixels.dtype))


def slider_key(place: str, name: str) -> str:
    return f"slider_{place}_{name}"


def threshold_slider(name: str, place: str, label: str = "Decision threshold (probability of pneumonia)") -> float:
    """A slider onto the model's one threshold. Each page has its own widget, set from the threshold before it is
    drawn and writing back on change, so presets, other pages and shared links all move it."""
    key = slider_key(place, name)
    st.session_state[key] = state.current_threshold(name)
    st.slider(label, 0.0, 1.0, step=0.001, format="%.3f", key=key, on_change=lambda: state.set_threshold(name, st.session_state[key]))
    return state.current_threshold(name)


def preset_buttons(name: str) -> None:
    """One button per distinct threshold chosen on validation (naming every rule that chose it); a click moves the
    model's threshold there."""
    groups = preset_groups(resources.card(name))
    for column, (value, points) in zip(st.columns(len(groups)), groups.items()):
        column.button(" = ".join(OPERATING_POINT_LABELS[p] for p in points) + f": {value:.3f}", key=f"preset_{name}_{points[0]}",
                      on_click=state.set_threshold, args=(name, value), width="stretch",
                      help=" ".join(OPERATING_POINT_HELP[p] for p in points))


def show_verdict(verdict) -> None:
    """The input gate's verdict above the predictions: refused stops the page, flagged warns, accepted says so."""
    from core.gate import FLAGGED, REFUSED

    if verdict.outcome == REFUSED:
        st.error(verdict.reasons[0], icon=":material/block:")
        st.stop()
    closer = f"closer to the training images than {1 - verdict.share_closer:.0%} of the validation X-rays are"
    if verdict.outcome == FLAGGED:
        st.warning("**Read with caution: this upload is outside what the models know.**\n\n"
                   + "\n".join(f"- {reason}" for reason in verdict.reasons)
                   + "\n\nThe readings below are shown for exploration, not as an answer.", icon=":material/warning:")
    else:
        st.success(f"**Accepted**: it looks like the training X-rays ({closer}).", icon=":material/check_circle:")
    for note in verdict.notes:
        st.caption(note)


def raw_toggle() -> bool:
    """Calibrated probabilities by default; the models' raw scores one click away (kept across pages)."""
    return st.toggle("Show the models' raw scores instead of calibrated probabilities", key=state.RAW_KEY, persist_state="session",
                     help=GLOSSARY["Calibrated probability"])


def show_reading(name: str, reading, threshold: float) -> None:
    """One model's probability (calibrated from its logit, or raw when asked) and its decision, as a metric."""
    probability = float(recalibration(resources.card(name))(reading.logit))
    raw = st.session_state.get(state.RAW_KEY, False)
    shown, other = (reading.probability, f"calibrated {probability:.3f}") if raw else (probability, f"raw score {reading.probability:.3f}")
    st.metric(f"{resources.display_name(name)}: P(pneumonia)", f"{shown:.3f}", f"{CLASS_NAMES[reading.predicted_class]} at {threshold:.3f}",
              delta_color="off", delta_arrow="off", help=GLOSSARY["Calibrated probability"])
    averaged = (" Averaged over 7 framings and exposures of the 28×28 (test-time augmentation, which raised this model's "
                "score on validation under the perturbations).") if resources.card(name).architecture == "FramingAverage" else ""
    st.caption(f"{'Raw score' if raw else 'Calibrated'}; {other}. The threshold is on the raw score.{averaged}")


def heatmap_legend() -> None:
    from core.case_report import colour_legend

    image(colour_legend(256, 12), alt="Colour scale of the heatmaps, from blue (little evidence) through green and yellow to red "
                                      "(most evidence).", width=256)
    st.caption("Heatmap colour: blue, little evidence; red, most evidence for the class the model decided. For a "
               "“normal” reading, red is evidence for normal. Grad-CAM is coarse: one value per cell of the model's last feature map.")


def report_downloads(build, key: str) -> None:
    """PDF and PNG case reports, generated only when a button is pressed (build() -> core.case_report.CaseReport)."""
    from core import case_report

    pdf, png = st.columns(2)
    pdf.download_button("Case report (PDF)", data=lambda: case_report.pdf(build()), file_name="case-report.pdf",
                        mime="application/pdf", key=f"{key}_pdf", on_click="ignore", icon=":material/picture_as_pdf:", width="stretch")
    png.download_button("Case report (PNG)", data=lambda: case_report.png(build()), file_name="case-report.png",
                        mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/image:", width="stretch")


def heatmap_trust_link(names) -> None:
    """A link to the page on how far each model's heatmap can be trusted, with each checked model's verdict in a few words."""
    from core.explanations import verdict

    words = "; ".join(f"{resources.display_name(n)}: {verdict(r).short}" for n in names if (r := resources.explanations(n)) is not None)
    st.page_link("pages/heatmap_trust.py", label="Can I trust the heatmap?" + (f" ({words})" if words else ""), icon=":material/visibility:")
