"""The "Evaluate on your X-rays" page's glue: the run under st.status and st.progress, and what it shows. The run is
kept in this session only (st.session_state), never in a shared cache: it holds a user's images."""

import base64
import io

import numpy as np
import streamlit as st
from PIL import Image

from core import case_report
from core.archive import ArchiveError, uploads_set
from core.figures import RocCurve, roc_alt, roc_figure
from core.local_evaluation import (
    LabelsError, Run, case_table, figures_table, labelled, probabilities, read_labels, read_set, report_sections, results,
)
from core.metrics import sweep
from ui import resources, state, widgets

RUN_KEY = "_evaluation_run"  # (the uploads' ids, the run)
CASE_FILTERS = ("Every file", "False negatives (missed pneumonia)", "False positives (healthy flagged)")
MAX_SET_MB = 200  # one upload (a zip) on this page; bigger sets go through validate.py


def upload_key(uploads, labels_upload) -> tuple:
    return tuple(u.file_id for u in uploads) + ((labels_upload.file_id,) if labels_upload else ())


def start(uploads, labels_upload, names: list[str]) -> None:
    """Read the set with every model under a status box; a whole-set refusal is one sentence and stops the page."""
    try:
        labels = read_labels(labels_upload.getvalue()) if labels_upload is not None else None
        files = uploads_set([(u.name, u) for u in uploads])  # read where they lie: a zip is not copied
    except (ArchiveError, LabelsError) as error:
        st.error(str(error), icon=":material/error:")
        st.stop()
    models = {name: model for name in names if (model := resources.model(name)) is not None}
    with st.status(f"Reading {len(files)} files…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting")

        def progress(stage: str, done: int, total: int) -> None:
            words = "The input gate" if stage == "gate" else resources.display_name(stage)
            bar.progress(done / max(total, 1), text=f"{words}: {done} of {total}")

        run = read_set(files, resources.neighbourhood(), models, labels, progress)
        status.update(label=f"Read {len(run.cases)} files with {len(models)} models.", state="complete", expanded=False)
    st.session_state[RUN_KEY] = (upload_key(uploads, labels_upload), run)


def current(uploads, labels_upload) -> Run | None:
    """The run of exactly these uploads, if it was started."""
    kept = st.session_state.get(RUN_KEY)
    return kept[1] if kept is not None and kept[0] == upload_key(uploads, labels_upload) else None


def _thumbnail_url(thumbnail) -> str | None:
    if thumbnail is None:
        return None
    buffer = io.BytesIO()
    Image.fromarray(thumbnail).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def show(run: Run, names: list[str], site: bool) -> None:
    """Everything the run says, at each model's current threshold."""
    names = [name for name in names if name in run.logits]
    thresholds = {name: state.current_threshold(name) for name in names}
    cards = {name: resources.card(name) for name in names}
    tests = {name: (resources.split_view(name, "test").labels, resources.split_view(name, "test").scores) for name in names}
    with st.spinner("Computing the figures and their intervals…"):  # once per run, thresholds and choice, in this session
        figures = state.session_memo("evaluation_figures", (st.session_state[RUN_KEY][0], tuple(thresholds.items()), site),
                                     lambda: results(run, cards, thresholds, tests, site))
    sections = report_sections(run, figures, resources.display_name)
    for heading, lines in sections[:len(sections) - len(names)]:  # the set's; one section per model follows
        st.subheader(heading)
        st.markdown("\n".join(f"- {line}" for line in lines))
    refused = [c for c in run.cases if c.outcome == "refused"]
    if refused:
        with st.expander(f"Why {len(refused)} files were refused"):
            st.markdown("\n".join(f"- {c.reason}" if c.reason.startswith(c.name) else f"- {c.name}: {c.reason}" for c in refused[:200]))
    if not any(c.label is not None for c in run.cases):
        st.info("No file has a label (NORMAL/ or PNEUMONIA/ folders, or a labels CSV): here is what the models read.")
        st.table({resources.display_name(n): {"files read": str(int(np.sum(~np.isnan(run.logits[n])))),
                                               "median raw score": f"{np.nanmedian(probabilities(run.logits[n])):.3f}",
                                               "called pneumonia": str(int(np.sum(probabilities(run.logits[n]) >= thresholds[n])))}
                  for n in names if np.any(~np.isnan(run.logits[n]))})
    else:
        for (heading, lines), name in zip(sections[-len(names):], names):
            st.subheader(heading)
            st.markdown(" ".join(lines))
            st.table(figures_table(figures[name]))
        widgets.define("AUC", "Sensitivity", "Specificity", "PPV", "NPV")
        st.caption("Intervals: Wilson 95% for the rates, stratified bootstrap (2,000 resamples) for AUC. “≠ test” marks a test-split "
                   "figure outside your set's interval. Thresholds are each model's current one (set them on the Threshold explorer).")
        rows = labelled(run, "read")
        labels = np.array([run.cases[i].label for i in rows])
        curves = []
        for name in names:
            read = figures[name].subsets["read"]
            if read is not None and read.positives and read.negatives:
                curves.append(RocCurve.at(resources.display_name(name), sweep(labels, probabilities(run.logits[name])[rows]), read.auc,
                                          read.values, thresholds[name], resources.colour(name)))
        if curves:
            widgets.chart(roc_figure(curves, "ROC on your set (accepted + flagged files)"), key="evaluate_roc",
                          alt=" ".join(roc_alt(c.name, c.auc, {"sensitivity": c.point[1], "specificity": 1 - c.point[0]}) for c in curves))
    table = case_table(run, thresholds, cards, resources.display_name)
    _case_table(run, table, names)
    csv, pdf = st.columns(2)
    csv.download_button("Per-case table (CSV)", data=table.to_csv(index=False).encode(), file_name="evaluation-cases.csv", mime="text/csv",
                        key="evaluate_csv", on_click="ignore", icon=":material/table:", width="stretch")
    pdf.download_button("Summary (PDF)", key="evaluate_pdf", on_click="ignore", icon=":material/picture_as_pdf:", width="stretch",
                        data=lambda: case_report.summary_pdf(
                            "Evaluation on your X-rays", sections,
                            [(resources.display_name(n), figures_table(figures[n])) for n in names] if any(c.label is not None for c in run.cases) else []),
                        file_name="evaluation-summary.pdf", mime="application/pdf")


def _case_table(run: Run, table, names: list[str]) -> None:
    st.subheader("Every file")
    left, right = st.columns(2)
    which = left.selectbox("Show", CASE_FILTERS, key="evaluate_filter")
    model = right.selectbox("Errors of", names, format_func=resources.display_name, key="evaluate_filter_model",
                            disabled=which == CASE_FILTERS[0])
    shown = table.drop(columns=["sha256"] + [c for c in table.columns if c.endswith(": raw score")])
    shown.insert(0, "thumbnail", [_thumbnail_url(c.thumbnail) for c in run.cases])
    if which != CASE_FILTERS[0]:
        wanted = "FN" if which == CASE_FILTERS[1] else "FP"
        shown = shown[table[f"{resources.display_name(model)}: outcome"] == wanted]
    st.dataframe(shown, hide_index=True, key="evaluate_cases", column_config={
        "thumbnail": st.column_config.ImageColumn("X-ray", help="The centre square the models read, small"),
        **{f"{resources.display_name(n)}: probability": st.column_config.NumberColumn(format="%.3f", help="Calibrated") for n in names}})
    st.caption(f"{len(shown)} of {len(table)} files. Probabilities are calibrated; decisions are at each model's threshold on the raw score.")
