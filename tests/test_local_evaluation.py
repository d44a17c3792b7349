"""Evaluating on a user's own set: hostile archives refused with their sentence, labels, the figures against
references (Wilson against scipy, Buderer's worked values), and the page, validate.py and the single upload's path
giving the same numbers on a zip of the resized-224 fixture."""

import io
import json
import math
import struct
import tomllib
import zipfile

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from core import archive
from core.archive import ArchiveError, uploads_set, zip_set
from core.calibration import intercept_and_slope
from core.imaging import MAX_FILE_MB
from core.local_evaluation import (
    LabelsError, duplicates, figures, gate_counts, label_of, read_labels, read_set, results, sample_size_sentence, site_tuned, summary,
)
from core.metrics import cases_for_precision, wilson_interval
from tests.conftest import REPO
from tests.uploads import encoded, xray

RESIZED = REPO.parent / "shared" / "fixtures" / "resized-224"
needs_resized = pytest.mark.skipif(not RESIZED.is_dir(), reason=f"no fixtures at {RESIZED}")


def zipped(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as made:
        for name, data in entries.items():
            made.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def patch_central_directory(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of every central-directory record (what zipfile trusts): a lying or hostile header."""
    data = bytearray(data)
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        struct.pack_into(fmt, data, start + offset, value)
        start += 4
    return bytes(data)


def problems(data: bytes) -> list[str]:
    return [f.problem for f in zip_set(io.BytesIO(data)) if f.problem]


PNG = encoded(xray(3, 64))


@pytest.mark.parametrize("entries, sentence", [
    ({f"NORMAL/{i}.png": b"" for i in range(archive.MAX_ENTRIES + 1)}, "a set may hold at most 5,000"),
    ({"../outside.png": PNG}, "names a file outside itself"),
    ({"/etc/absolute.png": PNG}, "names a file outside itself"),
    ({"C:/windows/absolute.png": PNG}, "names a file outside itself"),
])
def test_a_hostile_archive_is_refused_whole_with_its_sentence(entries, sentence):
    with pytest.raises(ArchiveError, match=sentence):
        zip_set(io.BytesIO(zipped(entries, zipfile.ZIP_STORED)))


def test_an_archive_declaring_more_than_500_mb_is_refused_before_any_entry_is_read():
    lying = patch_central_directory(zipped({"a.png": PNG, "b.png": PNG}), 24, "<I", 300 * 1000 ** 2)  # uncompressed size
    with pytest.raises(ArchiveError, match="declares 600 MB once unpacked; a set may hold at most 500 MB"):
        zip_set(io.BytesIO(lying))


def test_a_file_that_is_not_a_zip_is_refused_in_one_sentence():
    with pytest.raises(ArchiveError, match="not a zip archive"):
        zip_set(io.BytesIO(b"PK\x03\x04 and then nothing a zip has"))


def test_hostile_entries_get_their_sentence_and_the_rest_is_read():
    bomb = b"\0" * 2_000_000  # deflates about 1000:1
    data = zipped({"NORMAL/good.png": PNG, "NORMAL/inner.zip": zipped({"x.png": PNG}), "NORMAL/disguised.png": zipped({"x.png": PNG}),
                   "NORMAL/bomb.bmp": bomb, "NORMAL/huge.bmp": b"\0" * (MAX_FILE_MB * 1024 ** 2 + 1), "NORMAL/secret.png": PNG})
    encrypted = bytearray(data)
    start = data.rfind(b"PK\x01\x02", 0, data.rfind(b"NORMAL/secret.png"))  # secret.png's central-directory record
    struct.pack_into("<H", encrypted, start + 8, 0x1)  # general-purpose flag bit 0: encrypted
    files = {f.name: f for f in zip_set(io.BytesIO(bytes(encrypted)))}
    assert files["NORMAL/good.png"].data == PNG and files["NORMAL/good.png"].problem is None
    assert "itself an archive" in files["NORMAL/inner.zip"].problem and "itself an archive" in files["NORMAL/disguised.png"].problem
    assert "as a zip bomb does" in files["NORMAL/bomb.bmp"].problem
    assert f"at most {MAX_FILE_MB} MB (as a single upload)" in files["NORMAL/huge.bmp"].problem
    assert "encrypted" in files["NORMAL/secret.png"].problem
    assert all(f.data is None for name, f in files.items() if name != "NORMAL/good.png")


def test_an_entry_whose_declared_size_lies_is_read_no_further_and_refused():
    liar = patch_central_directory(zipped({"NORMAL/a.png": PNG}, zipfile.ZIP_STORED), 24, "<I", 100)
    liar = patch_central_directory(liar, 20, "<I", 100)  # and as stored: the ratio stays 1
    assert problems(liar) == ["NORMAL/a.png was not read: this entry of the archive is damaged or packed in a way the app does not read."]


def test_a_single_uploads_size_limit_is_the_apps():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_FILE_MB


def test_labels_come_from_folders_in_any_case_or_from_a_csv():
    assert [label_of(n, None) for n in ("set/Normal/a.png", "PNEUMONIA/b.png", "x/pneumonia/NORMAL/c.png", "d.png")] == [0, 1, 0, None]
    labels = read_labels(b"file,label\nset/a.png,Pneumonia\nb.png,0\n")
    assert label_of("set/a.png", labels) == 1 and label_of("other/b.png", labels) == 0 and label_of("NORMAL/c.png", labels) is None
    for bad, words in ((b"a.png,maybe\n", "Row 1"), (b"\xff\xfe\x00", "not a readable CSV"), (b"file,label\n", "no rows")):
        with pytest.raises(LabelsError, match=words):
            read_labels(bad)


def test_read_mes_and_labels_are_left_out_by_name_and_a_zip_among_uploads_is_opened():
    files = uploads_set([("set.zip", zipped({"NORMAL/a.png": PNG, "README.md": b"# hi", "__MACOSX/._a.png": b"x"})), ("PNEUMONIA/b.png", PNG)])
    assert [name for name, _ in files.readers] == ["NORMAL/a.png", "PNEUMONIA/b.png"] and set(files.skipped) == {"README.md", "__MACOSX/._a.png"}


def test_wilson_intervals_match_scipys():
    for successes, trials in ((0, 10), (10, 10), (8, 10), (142, 150), (1, 3), (380, 390)):
        reference = binomtest(successes, trials).proportion_ci(0.95, method="wilson")
        assert wilson_interval(successes, trials) == pytest.approx((reference.low, reference.high), abs=1e-12)  # one formula, rounding only
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_buderers_sample_sizes_are_the_issues_worked_values():
    # z² p(1 − p) / d²: 1.96² · 0.9 · 0.1 / 0.05² = 138.3 -> 139; at ±10 points 34.6 -> 35; specificity 0.85: 195.9 -> 196, 49.0 -> 49
    assert [cases_for_precision(p, d) for p, d in ((0.9, 0.10), (0.85, 0.10), (0.9, 0.05), (0.85, 0.05))] == [35, 49, 139, 196]
    assert sample_size_sentence(34, 300).startswith("Too few to say") and "±10 points, not ±5" in sample_size_sentence(150, 150)
    assert sample_size_sentence(139, 196).startswith("139 pneumonias and 196 normals: enough for about ±5")


def test_calibration_in_the_large_and_slope_against_their_definitions():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 400)
    labels = (rng.random(400) < p).astype(int)
    in_the_large, slope = intercept_and_slope(labels, p)
    logit = np.log(p / (1 - p))
    assert np.mean(1 / (1 + np.exp(-(in_the_large + logit)))) == pytest.approx(labels.mean(), abs=1e-9)  # its defining equation
    reference = LogisticRegression(C=np.inf).fit(logit.reshape(-1, 1), labels)
    assert slope == pytest.approx(reference.coef_[0, 0], rel=1e-4)  # same fit, optimiser tolerance
    shifted, steeper = intercept_and_slope(labels, 1 / (1 + np.exp(-(logit - 1))))  # scores one logit too low
    assert shifted == pytest.approx(in_the_large + 1, abs=1e-6) and steeper == pytest.approx(slope, rel=1e-3)  # lbfgs stops at its tolerance


def test_figures_match_sklearn_and_a_site_threshold_is_chosen_on_one_half_only():
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(60, int), np.zeros(40, int)]
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    f = figures(labels, scores, 0.5)
    called = scores >= 0.5
    assert f.counts == {"tp": int((called & (labels == 1)).sum()), "fp": int((called & (labels == 0)).sum()),
                        "tn": int((~called & (labels == 0)).sum()), "fn": int((~called & (labels == 1)).sum())}
    assert f.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12) and f.auc_ci95[0] < f.auc < f.auc_ci95[1]
    site = site_tuned(labels, scores)
    assert site.tuned_on == 50 and site.figures.n == 50 and (site.figures.positives, site.figures.negatives) == (30, 20)
    assert site_tuned(labels, scores).threshold == site.threshold  # seeded


@pytest.fixture(scope="module")
def fixture_zip() -> bytes:
    """Every tenth file of the resized-224 fixture (15 normal, 15 pneumonia), zipped in memory as a user would send it."""
    paths = sorted(p for p in RESIZED.rglob("*.jpeg"))[::10]
    return zipped({p.relative_to(RESIZED).as_posix(): p.read_bytes() for p in paths})


@pytest.fixture(scope="module")
def committed():
    from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
    from core.evaluation import split_arrays
    from tests.conftest import served_model

    checkpoints = {name: open_checkpoint(CHECKPOINTS_DIR / name) for name in trained_models()}
    return ({n: served_model(n) for n in checkpoints}, {n: c.card for n, c in checkpoints.items()},
            {n: split_arrays(c.predictions, "test") for n, c in checkpoints.items()})


@needs_resized
def test_the_batched_run_equals_each_file_read_through_the_single_upload_path(fixture_zip, committed):
    from core.gate import check
    from core.imaging import decode, to_dataset_image
    from core.metrics import metrics_at
    from core.ood import Neighbourhood

    models, cards, tests = committed
    neighbourhood = Neighbourhood.load()
    run = read_set(zip_set(io.BytesIO(fixture_zip)), neighbourhood, models)
    figured = results(run, cards, {n: c.opening_threshold for n, c in cards.items()}, tests)
    direct = {name: [] for name in models}
    labels = []
    with zipfile.ZipFile(io.BytesIO(fixture_zip)) as opened:
        for case, info in zip(run.cases, opened.infolist()):
            decoded = decode(opened.read(info))  # the Predict page's path, file by file
            image = to_dataset_image(decoded.grey)
            assert check(decoded, image, neighbourhood).outcome == case.outcome and np.array_equal(image, case.image)
            labels.append(1 if info.filename.startswith("PNEUMONIA/") else 0)
            for name, model in models.items():
                direct[name].append(model.read(image, cards[name].opening_threshold).probability)  # as the Predict page reads
    assert [c.label for c in run.cases] == labels and len(labels) == 30
    for name in models:
        batched = 1 / (1 + np.exp(-run.logits[name]))
        # a batch and a single image take different BLAS paths: float32 logits agree to rounding, not to the bit
        assert batched == pytest.approx(np.array(direct[name]), abs=1e-5), name
        expected = metrics_at(labels, direct[name], cards[name].opening_threshold)
        assert figured[name].subsets["read"].counts == {k: expected[k] for k in ("tp", "fp", "tn", "fn")}, name
        assert figured[name].subsets["read"].auc == pytest.approx(roc_auc_score(labels, direct[name]), abs=1e-9), name


@needs_resized
def test_the_page_and_validate_py_give_the_same_numbers(fixture_zip, tmp_path, capsys):
    import validate
    from tests.test_app import open_page
    from ui import evaluation, resources

    path, out = tmp_path / "set.zip", tmp_path / "out.json"
    path.write_bytes(fixture_zip)
    assert validate.main([str(path), "--json", str(out)]) == 0
    cli = json.loads(out.read_text())
    assert cli["files"] == 30 and sum(cli["gate"].values()) == 30 and set(cli["models"]) == set(resources.model_names())

    app = open_page("pages/evaluate.py")
    app.file_uploader(key="evaluate_upload").set_value(("set.zip", fixture_zip, "application/zip")).run()
    app.button(key="evaluate_start").click().run()
    assert not app.exception and not app.error
    run = app.session_state[evaluation.RUN_KEY][1]
    thresholds = {n: m["threshold"] for n, m in cli["models"].items()}
    tests = {n: (resources.split_view(n, "test").labels, resources.split_view(n, "test").scores) for n in thresholds}
    page = summary(run, results(run, {n: resources.card(n) for n in thresholds}, thresholds, tests))
    assert page == cli  # the same run, figures and intervals, to the bit: one code path, same seeds
    tables = [t.value for t in app.table if "TP / FP / TN / FN" in t.value.index]
    assert len(tables) == len(cli["models"])
    for table, entry in zip(tables, cli["models"].values()):  # what the page draws is the CLI's numbers
        column = table.columns[0]
        assert table.loc["TP / FP / TN / FN", column] == f"{entry['tp']} / {entry['fp']} / {entry['tn']} / {entry['fn']}"
        assert table.loc["AUC", column].startswith(f"{entry['auc']:.3f} ({entry['auc_ci95'][0]:.3f}–{entry['auc_ci95'][1]:.3f})")
        assert table.loc["Sensitivity", column].startswith(f"{entry['sensitivity']:.3f}")
    gate = next(m.value for m in app.markdown if "by the input gate" in m.value)
    assert f"Accepted by the input gate: {cli['gate']['accepted']}" in gate and f"Flagged by the input gate: {cli['gate']['flagged']}" in gate


def test_duplicates_and_label_conflicts_are_found_by_content():
    from core.ood import Neighbourhood

    other = encoded(xray(5, 64))
    data = zipped({"NORMAL/a.png": PNG, "PNEUMONIA/a-again.png": PNG, "NORMAL/b.png": other, "NORMAL/b-copy.png": other})
    run = read_set(zip_set(io.BytesIO(data)), Neighbourhood.load(), {})
    same, conflicts = duplicates(run)
    assert sorted(map(sorted, same)) == [["NORMAL/a.png", "PNEUMONIA/a-again.png"], ["NORMAL/b-copy.png", "NORMAL/b.png"]]
    assert conflicts == [["NORMAL/a.png", "PNEUMONIA/a-again.png"]]
    assert sum(sum(by_class.values()) for by_class in gate_counts(run).values()) == 4


def test_the_page_refuses_a_hostile_zip_in_its_sentence_and_reads_an_unlabelled_set():
    from tests.test_app import open_page

    app = open_page("pages/evaluate.py")
    app.file_uploader(key="evaluate_upload").set_value(("evil.zip", zipped({"a.png": PNG, "../../etc/cron.d/x.png": PNG}), "application/zip")).run()
    app.button(key="evaluate_start").click().run()
    assert not app.exception and [e.value for e in app.error] == [
        "The archive names a file outside itself ('../../etc/cron.d/x.png': an absolute path or a step up with ..); such archives are refused whole."]
    app.file_uploader(key="evaluate_upload").set_value(("set.zip", zipped({"a.png": PNG, "b.png": encoded(xray(8, 64)), "c.txt.gz": b"\x1f\x8b"}),
                                                        "application/zip")).run()
    app.button(key="evaluate_start").click().run()
    assert not app.exception and not app.error
    assert any("No file has a label" in i.value for i in app.info)
    assert any("c.txt.gz was not read: it is itself an archive" in m.value for m in app.markdown)
    assert app.table[0].value.loc["files read"].tolist() == ["2"] * len(app.table[0].value.columns)


def test_the_pdf_summary_carries_the_sections_and_each_models_figures():
    from pypdf import PdfReader

    from core.case_report import summary_pdf
    from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
    from core.evaluation import split_arrays
    from core.local_evaluation import Case, Run, figures_table, report_sections

    checkpoint = open_checkpoint(CHECKPOINTS_DIR / "cnn")
    cases = tuple(Case(f"{'PNEUMONIA' if i % 2 else 'NORMAL'}/{i}.png", f"{i:064x}", i % 2, "accepted", "", np.zeros((28, 28), np.uint8), None)
                  for i in range(12))
    run = Run(cases, {"cnn": np.linspace(-3, 3, 12) + np.where(np.arange(12) % 2, 1.0, -1.0)})
    figured = results(run, {"cnn": checkpoint.card}, {"cnn": 0.5}, {"cnn": split_arrays(checkpoint.predictions, "test")}, site=True)
    table = figures_table(figured["cnn"])
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(summary_pdf("Evaluation", report_sections(run, figured), [("cnn", table)]))).pages)
    counts = figured["cnn"].subsets["read"].counts
    assert "12 files, 12 labelled." in " ".join(text.split()) and "Too few to say" in text
    assert f"{counts['tp']} / {counts['fp']} / {counts['tn']} / {counts['fn']}" in text and "Site-tuned" in text


def test_a_folder_is_read_file_by_file_and_validate_py_refuses_what_it_cannot_read_in_one_sentence(tmp_path, capsys):
    import validate
    from core.archive import folder_set

    for name, data in {"Normal/a.png": PNG, "pneumonia/deep/b.png": PNG, "README.md": b"# set", "extra/c.zip": zipped({"x.png": PNG})}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    files = list(folder_set(tmp_path))
    assert [f.name for f in files] == ["Normal/a.png", "extra/c.zip", "pneumonia/deep/b.png"] and folder_set(tmp_path).skipped == ("README.md",)
    assert files[0].data == PNG and "itself an archive" in files[1].problem
    assert [label_of(f.name, None) for f in files] == [0, None, 1]
    assert validate.main([str(tmp_path / "missing")]) == 2 and capsys.readouterr().err.strip() == f"There is no file or folder at {tmp_path / 'missing'}."
    (tmp_path / "labels.csv").write_bytes(b"a.png,sometimes\n")
    assert validate.main([str(tmp_path), "--labels", str(tmp_path / "labels.csv")]) == 2
    assert capsys.readouterr().err.strip().startswith("Row 1 of the labels file is not")
