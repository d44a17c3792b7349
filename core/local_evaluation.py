"""Every model on a labelled set of X-rays from elsewhere (a zip, a folder or uploaded files): what the page
"Evaluate on your X-rays" and validate.py both run.

Each file goes the single upload's way (core.imaging.decode, the dataset's 28×28, core.gate.check); only the 28×28,
a hash, the name and a thumbnail are kept. The 28×28 images are then read model by model in batches
(core.inference.predict_logits), and the figures come from core.metrics at each model's threshold, which is on the
raw probability as everywhere in the app. Metrics are over every labelled file the gate did not refuse, and again
over the accepted ones only.
"""

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from core.archive import FileSet, SourceFile
from core.calibration import intercept_and_slope
from core.cards import Card
from core.evaluation import CHOSEN_OPERATING_POINT, OPERATING_POINT_LABELS, bootstrap_resamples, recalibration
from core.gate import ACCEPTED, FLAGGED, REFUSED, check
from core.imaging import ImageDecodeError, decode, display_image, to_dataset_image
from core.metrics import cases_for_precision, interval, metrics_at, operating_points, roc_auc, sweep, wilson_interval
from core.reporting import CLASS_NAMES, outcomes

LABEL_WORDS = {"normal": 0, "pneumonia": 1, "0": 0, "1": 1}
SUBSETS = {"read": "accepted + flagged", "accepted": "accepted only"}  # "read": every file the gate did not refuse
RATES = {"sensitivity": ("tp", "fn"), "specificity": ("tn", "fp"), "ppv": ("tp", "fp"), "npv": ("tn", "fn")}  # successes, failures
RATE_NAMES = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV"}
PLANNING = {"sensitivity": 0.90, "specificity": 0.85}  # the values the sample-size sentence plans for (Buderer 1996)
CALIBRATION_MINIMUM = 100  # cases of each class before calibration-in-the-large and slope mean anything
SITE_SEED = 0
THUMBNAIL_SIDE = 64
BATCH = 32  # images per pass: ResNet-18 reads 224×224 inside, so 32 keeps its activations to a few hundred MB


class LabelsError(ValueError):
    """The labels file cannot be used; the message is one sentence for the user."""


@dataclass(frozen=True)
class Case:
    """What is kept of one file: its name, hash, label, the gate's verdict, the 28×28 the models read and a thumbnail."""

    name: str
    sha256: str  # "" when the file was not read
    label: int | None  # 0 normal, 1 pneumonia, None unlabelled
    outcome: str  # the gate's: accepted, flagged or refused (a file that could not be read is refused)
    reason: str  # the first reason it was refused or flagged, one sentence ("" when accepted)
    image: np.ndarray | None  # 28×28 uint8, None when refused
    thumbnail: np.ndarray | None  # THUMBNAIL_SIDE² uint8, None when not decoded


@dataclass(frozen=True)
class Run:
    """A set read by the gate and every model: cases in file order, and each model's logit per case (nan when refused)."""

    cases: tuple[Case, ...]
    logits: Mapping[str, np.ndarray]
    skipped: tuple[str, ...] = ()  # left out by name: read-mes, label files, hidden files


def label_from_path(name: str) -> int | None:
    """The label a folder gives: the innermost folder called NORMAL or PNEUMONIA (any case), else None."""
    for part in reversed(PurePosixPath(name.replace("\\", "/")).parts[:-1]):
        if part.lower() in ("normal", "pneumonia"):
            return LABEL_WORDS[part.lower()]
    return None


def read_labels(data: bytes) -> dict[str, int]:
    """A CSV of (file, label) rows, label normal/pneumonia or 0/1 (any case), a header row optional; file -> label."""
    try:
        rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error):
        raise LabelsError("The labels file is not a readable CSV (UTF-8 text, one file,label row per X-ray).") from None
    if rows and rows[0][0].strip().lower() in ("file", "filename", "file_name", "path", "image", "name"):
        rows = rows[1:]  # a header
    labels = {}
    for number, row in enumerate(rows, 1):
        if len(row) < 2 or row[1].strip().lower() not in LABEL_WORDS:
            raise LabelsError(f"Row {number} of the labels file is not “file,label” with label normal, pneumonia, 0 or 1: {','.join(row)[:80]!r}.")
        labels[row[0].strip().replace("\\", "/").removeprefix("./")] = LABEL_WORDS[row[1].strip().lower()]
    if not labels:
        raise LabelsError("The labels file holds no rows.")
    return labels


def label_of(name: str, labels: Mapping[str, int] | None) -> int | None:
    """From the labels file when there is one (by path inside the set, else by file name), else from the folders."""
    if labels is None:
        return label_from_path(name)
    return labels.get(name, labels.get(PurePosixPath(name).name))


def read_case(source: SourceFile, neighbourhood, label: int | None) -> Case:
    """One file through the single upload's path: decode, the dataset's 28×28, the gate."""
    if source.problem is not None:
        return Case(source.name, "", label, REFUSED, source.problem, None, None)
    digest = hashlib.sha256(source.data).hexdigest()
    try:
        decoded = decode(source.data)
    except ImageDecodeError as error:
        return Case(source.name, digest, label, REFUSED, str(error), None, None)
    image = to_dataset_image(decoded.grey)
    verdict = check(decoded, image, neighbourhood)
    return Case(source.name, digest, label, verdict.outcome, verdict.reasons[0] if verdict.reasons else "",
                None if verdict.outcome == REFUSED else image, display_image(decoded.grey, THUMBNAIL_SIDE))


def read_set(files: FileSet, neighbourhood, models: Mapping, labels: Mapping[str, int] | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> Run:
    """Every file of the set through the gate (one at a time), then every model over the files it did not refuse.
    progress(stage, done, total) after each file and each batch."""
    progress = progress or (lambda *_: None)
    cases = []
    for done, source in enumerate(files, 1):
        try:
            cases.append(read_case(source, neighbourhood, label_of(source.name, labels)))
        except Exception:  # noqa: BLE001  (a file that fails never stops the run; its sentence says so)
            cases.append(Case(source.name, "", label_of(source.name, labels), REFUSED,
                              f"{source.name} could not be read (an unexpected error in decoding it).", None, None))
        progress("gate", done, len(files))
    return Run(tuple(cases), model_logits(cases, models, progress), files.skipped)


def model_logits(cases, models: Mapping, progress: Callable[[str, int, int], None]) -> dict[str, np.ndarray]:
    """Each served model's (core.serving) fp32 logit, as float64, per case, nan where the gate refused: the 28×28
    images read in batches, as a single upload's reading computes its logit."""
    read = [i for i, case in enumerate(cases) if case.image is not None]
    images = np.stack([cases[i].image for i in read]) if read else np.empty((0, 28, 28), np.uint8)
    logits = {}
    for name, model in models.items():
        values = np.full(len(cases), np.nan)
        parts = []
        for start in range(0, len(images), BATCH):
            parts.append(model.logits(images[start:start + BATCH]).astype(np.float64))
            progress(name, min(start + BATCH, len(images)), len(images))
        values[read] = np.concatenate(parts) if parts else []
        logits[name] = values
    return logits


def probabilities(logits: np.ndarray) -> np.ndarray:
    """The raw probability, as core.inference computes it (float64 sigmoid of the fp32 logit); thresholds apply to it."""
    from scipy.special import expit

    return expit(np.asarray(logits, np.float64))


@dataclass(frozen=True)
class Figures:
    """One model on one group of labelled cases at one threshold."""

    n: int
    positives: int
    negatives: int
    counts: Mapping[str, int]  # tp, fp, tn, fn
    values: Mapping[str, float]  # RATES
    intervals: Mapping[str, tuple[float, float]]  # Wilson 95%
    auc: float
    auc_ci95: tuple[float, float]  # stratified bootstrap (core.evaluation's resamples); nan without both classes
    fpr: np.ndarray
    tpr: np.ndarray


def figures(labels, scores, threshold: float, with_intervals: bool = True) -> Figures:
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, float)
    point = metrics_at(labels, scores, threshold)
    counts = {k: point[k] for k in ("tp", "fp", "tn", "fn")}
    values = {rate: (counts[a] / (counts[a] + counts[b]) if counts[a] + counts[b] else float("nan")) for rate, (a, b) in RATES.items()}
    wilson = {rate: wilson_interval(counts[a], counts[a] + counts[b]) for rate, (a, b) in RATES.items()}
    positives, negatives = int(labels.sum()), int(len(labels) - labels.sum())
    nan = (float("nan"), float("nan"))
    both = positives > 0 and negatives > 0
    auc = roc_auc(labels, scores) if both else float("nan")
    auc_ci = interval(bootstrap_resamples(labels, scores).auc()) if both and with_intervals else nan
    fpr, tpr = sweep(labels, scores).roc() if both else (np.array([]), np.array([]))
    return Figures(len(labels), positives, negatives, counts, values, wilson if with_intervals else {r: nan for r in RATES},
                   auc, auc_ci, fpr, tpr)


def beyond(local: Figures, reference: Figures) -> dict[str, bool]:
    """Where the test split's figure lies outside the local 95% interval (a real difference, not chance)."""
    out = {rate: bool(low > reference.values[rate] or high < reference.values[rate])
           for rate, (low, high) in local.intervals.items() if not np.isnan(low)}
    if not np.isnan(local.auc_ci95[0]):
        out["auc"] = bool(local.auc_ci95[0] > reference.auc or local.auc_ci95[1] < reference.auc)
    return out


@dataclass(frozen=True)
class SiteTuned:
    """A threshold chosen by the app's rule on a seeded, stratified half of the set, reported on the other half."""

    threshold: float
    tuned_on: int
    figures: Figures


def site_tuned(labels, scores, seed: int = SITE_SEED) -> SiteTuned | None:
    """None when either class has fewer than 4 cases (each half needs both)."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, float)
    if min(labels.sum(), len(labels) - labels.sum()) < 4:
        return None
    rng = np.random.default_rng(seed)
    tune = np.zeros(len(labels), bool)
    for members in (np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)):
        tune[rng.permutation(members)[:len(members) // 2]] = True
    threshold = operating_points(labels[tune], scores[tune])[CHOSEN_OPERATING_POINT]
    return SiteTuned(threshold, int(tune.sum()), figures(labels[~tune], scores[~tune], threshold))


@dataclass(frozen=True)
class ModelResult:
    name: str
    threshold: float  # on the raw probability
    subsets: Mapping[str, Figures | None]  # SUBSETS -> figures (None: no labelled case there)
    test: Figures  # PneumoniaMNIST's test split (the committed predictions) at the same threshold
    beyond_test: Mapping[str, bool]  # on "read": the local interval excludes the test figure
    calibration: tuple[float, float] | None  # in the large and slope of the calibrated probabilities, both classes >= 100
    site: SiteTuned | None


def labelled(run: Run, subset: str) -> np.ndarray:
    """Indices of the labelled cases in a subset: "read" (accepted or flagged) or "accepted"."""
    kept = (ACCEPTED,) if subset == "accepted" else (ACCEPTED, FLAGGED)
    return np.array([i for i, c in enumerate(run.cases) if c.outcome in kept and c.label is not None], int)


def model_result(run: Run, name: str, card: Card, threshold: float, test: tuple[np.ndarray, np.ndarray], site: bool) -> ModelResult:
    labels = np.array([case.label if case.label is not None else -1 for case in run.cases])
    scores = probabilities(run.logits[name])
    subsets = {}
    for subset in SUBSETS:
        rows = labelled(run, subset)
        subsets[subset] = figures(labels[rows], scores[rows], threshold) if len(rows) else None
    reference = figures(*test, threshold, with_intervals=False)
    read = subsets["read"]
    calibration = None
    rows = labelled(run, "read")
    if read is not None and min(read.positives, read.negatives) >= CALIBRATION_MINIMUM:
        calibration = intercept_and_slope(labels[rows], recalibration(card)(run.logits[name][rows]))
    return ModelResult(name, threshold, subsets, reference, beyond(read, reference) if read else {}, calibration,
                       site_tuned(labels[rows], scores[rows]) if site and read is not None else None)


def results(run: Run, cards: Mapping[str, Card], thresholds: Mapping[str, float],
            tests: Mapping[str, tuple[np.ndarray, np.ndarray]], site: bool = False) -> dict[str, ModelResult]:
    """Every model's figures at its threshold; tests: each model's committed test labels and probabilities."""
    return {name: model_result(run, name, cards[name], thresholds[name], tests[name], site) for name in run.logits}


def gate_counts(run: Run) -> dict[str, dict[str, int]]:
    """Files per gate outcome and class (normal, pneumonia, unlabelled)."""
    classes = {0: "normal", 1: "pneumonia", None: "unlabelled"}
    counts = {outcome: {word: 0 for word in classes.values()} for outcome in (ACCEPTED, FLAGGED, REFUSED)}
    for case in run.cases:
        counts[case.outcome][classes[case.label]] += 1
    return counts


def duplicates(run: Run) -> tuple[list[list[str]], list[list[str]]]:
    """Files with the same content (sha256), as groups of names; and the groups whose labels disagree."""
    groups: dict[str, list[Case]] = {}
    for case in run.cases:
        if case.sha256:
            groups.setdefault(case.sha256, []).append(case)
    same = [group for group in groups.values() if len(group) > 1]
    conflicts = [group for group in same if len({c.label for c in group if c.label is not None}) > 1]
    return [[c.name for c in group] for group in same], [[c.name for c in group] for group in conflicts]


def sample_size_sentence(positives: int, negatives: int) -> str:
    """Whether the set is big enough to say anything (Buderer 1996, at the planning values of PLANNING)."""
    sens, spec = PLANNING["sensitivity"], PLANNING["specificity"]
    few = cases_for_precision(sens, 0.10), cases_for_precision(spec, 0.10)
    enough = cases_for_precision(sens, 0.05), cases_for_precision(spec, 0.05)
    planning = f"at sensitivity {sens:.0%} and specificity {spec:.0%} (Buderer 1996)"
    if positives < few[0] or negatives < few[1]:
        return (f"Too few to say: {positives} pneumonias and {negatives} normals. Even ±10 points needs about {few[0]} pneumonias "
                f"and {few[1]} normals {planning}; ±5 points about {enough[0]} and {enough[1]}.")
    if positives < enough[0] or negatives < enough[1]:
        return (f"{positives} pneumonias and {negatives} normals: enough for about ±10 points, not ±5, which needs about "
                f"{enough[0]} pneumonias and {enough[1]} normals {planning}.")
    return f"{positives} pneumonias and {negatives} normals: enough for about ±5 points or better {planning}."


def case_table(run: Run, thresholds: Mapping[str, float], cards: Mapping[str, Card], display: Callable[[str], str] = str) -> pd.DataFrame:
    """One row per file: label, gate verdict and reason, and per model its calibrated and raw probability, decision and
    outcome (TP/FP/FN/TN) at its threshold."""
    table = pd.DataFrame({
        "file": [c.name for c in run.cases],
        "label": [CLASS_NAMES[c.label] if c.label is not None else "" for c in run.cases],
        "gate": [c.outcome for c in run.cases],
        "gate reason": [c.reason for c in run.cases],
        "sha256": [c.sha256 for c in run.cases],
    })
    labels = np.array([c.label if c.label is not None else -1 for c in run.cases])
    for name, logits in run.logits.items():
        read = ~np.isnan(logits)
        raw = probabilities(logits)
        decided = np.where(read, np.where(raw >= thresholds[name], CLASS_NAMES[1], CLASS_NAMES[0]), "")
        outcome = np.where(read & (labels >= 0), outcomes(labels.clip(0), np.nan_to_num(raw), thresholds[name]), "")
        table[f"{display(name)}: probability"] = np.where(read, recalibration(cards[name])(logits), np.nan)
        table[f"{display(name)}: raw score"] = np.where(read, raw, np.nan)
        table[f"{display(name)}: decision"] = decided
        table[f"{display(name)}: outcome"] = outcome
    return table


def _figures_json(f: Figures | None) -> dict | None:
    if f is None:
        return None
    out = {"n": f.n, "pneumonia": f.positives, "normal": f.negatives, **f.counts, "auc": _number(f.auc), "auc_ci95": _pair(f.auc_ci95)}
    for rate in RATES:
        out[rate] = _number(f.values[rate])
        out[f"{rate}_ci95"] = _pair(f.intervals[rate])
    return out


def _number(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _pair(pair) -> list | None:
    return None if np.isnan(pair[0]) else [float(pair[0]), float(pair[1])]


def summary(run: Run, models: Mapping[str, ModelResult]) -> dict:
    """The run as JSON-ready data, as validate.py writes it: each model's figures over every file the gate did not
    refuse, and the same over accepted files only, on the test split, and site-tuned."""
    same, conflicts = duplicates(run)
    out = {"files": len(run.cases), "gate": {outcome: sum(c.values()) for outcome, c in gate_counts(run).items()},
           "gate_by_class": gate_counts(run), "labelled": int(sum(c.label is not None for c in run.cases)),
           "skipped": list(run.skipped), "duplicates": same, "label_conflicts": conflicts, "models": {}}
    for name, result in models.items():
        entry = {"threshold": result.threshold, **(_figures_json(result.subsets["read"]) or {"n": 0})}
        entry["accepted_only"] = _figures_json(result.subsets["accepted"])
        entry["test_split"] = {k: v for k, v in _figures_json(result.test).items() if not k.endswith("_ci95")}
        entry["test_outside_local_ci95"] = sorted(metric for metric, flag in result.beyond_test.items() if flag)
        entry["calibration"] = ({"in_the_large": result.calibration[0], "slope": result.calibration[1]}
                                if result.calibration else None)
        if result.site is not None:
            entry["site_tuned"] = {"threshold": result.site.threshold, "rule": OPERATING_POINT_LABELS[CHOSEN_OPERATING_POINT],
                                   "tuned_on": result.site.tuned_on, **_figures_json(result.site.figures)}
        out["models"][name] = entry
    return out


def _cell(figures_: Figures | None, rate: str, flagged: bool = False) -> str:
    if figures_ is None:
        return "—"
    value = figures_.auc if rate == "auc" else figures_.values[rate]
    low, high = figures_.auc_ci95 if rate == "auc" else figures_.intervals[rate]
    if np.isnan(value):
        return "—"
    text = f"{value:.3f}" + ("" if np.isnan(low) else f" ({low:.3f}–{high:.3f})")
    return text + (" ≠ test" if flagged else "")


def figures_table(result: ModelResult) -> pd.DataFrame:
    """One model's figures side by side: over accepted + flagged files (with "≠ test" where the test split's figure is
    outside its interval), accepted only, site-tuned when asked for, and PneumoniaMNIST's test split."""
    columns = {f"Your set, {SUBSETS['read']}": result.subsets["read"], f"Your set, {SUBSETS['accepted']}": result.subsets["accepted"]}
    if result.site is not None:
        columns[f"Site-tuned (threshold {result.site.threshold:.3f}, other half)"] = result.site.figures
    columns["PneumoniaMNIST test"] = result.test
    first = next(iter(columns))
    rows = {"Cases (pneumonia / normal)": {c: "—" if f is None else f"{f.n} ({f.positives} / {f.negatives})" for c, f in columns.items()},
            "TP / FP / TN / FN": {c: "—" if f is None else " / ".join(str(f.counts[k]) for k in ("tp", "fp", "tn", "fn"))
                                  for c, f in columns.items()}}
    for rate, label in {"auc": "AUC", **RATE_NAMES}.items():
        rows[label] = {c: _cell(f, rate, c == first and result.beyond_test.get(rate, False)) for c, f in columns.items()}
    return pd.DataFrame(rows).T.rename_axis("Figure (95% interval)")


def report_sections(run: Run, models: Mapping[str, ModelResult], display: Callable[[str], str] = str) -> list[tuple[str, list[str]]]:
    """The run in sentences, headed (for the page and its PDF summary)."""
    counts = gate_counts(run)
    gate = [f"{outcome.capitalize()} by the input gate: {sum(by_class.values())}"
            + (f" ({', '.join(f'{n} {word}' for word, n in by_class.items() if n)})" if any(by_class.values()) else "")
            for outcome, by_class in counts.items()]
    same, conflicts = duplicates(run)
    sections = [("The set", [f"{len(run.cases)} files, {sum(c.label is not None for c in run.cases)} labelled."
                             + (f" Left out by name: {', '.join(run.skipped[:10])}{'…' if len(run.skipped) > 10 else ''}." if run.skipped else ""),
                             *gate,
                             f"Identical files (same content): {len(same)} groups; with conflicting labels: {len(conflicts)}."])]
    read = next((r.subsets["read"] for r in models.values() if r.subsets["read"] is not None), None)
    if read is not None:
        sections.append(("How much the set can say", [sample_size_sentence(read.positives, read.negatives)]))
    for name, result in models.items():
        lines = [f"Threshold {result.threshold:.3f} (raw probability)."]
        flagged = [RATE_NAMES.get(m, "AUC") for m, f in result.beyond_test.items() if f]
        if flagged:
            lines.append(f"Outside its 95% interval here: the test split's {', '.join(flagged)}.")
        if result.calibration:
            lines.append(f"Calibration-in-the-large {result.calibration[0]:+.2f} (0 is right on average), slope {result.calibration[1]:.2f} "
                         "(1 is as confident as it should be), of the calibrated probabilities.")
        sections.append((display(name), lines))
    return sections
