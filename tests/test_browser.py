"""End to end in a real headless Chromium: the drawn confusion matrix follows the slider, a phone's sidebar closes,
a PHI-bearing DICOM leaves no name in the report, and no page has a serious accessibility violation."""

import io
import re

import pytest

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
from core.evaluation import split_arrays
from core.metrics import counts_at
from local_server import CHROMIUM, CHROMIUM_ARGS, running_app

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (Debian package 'chromium')")
SLIDER = 'input[type="range"][aria-label="Decision threshold (probability of pneumonia)"]'


@pytest.fixture(scope="module")
def app_url():
    with running_app() as (url, _):
        yield url


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module's tests (each opens its own page or context); yields (playwright, browser)."""
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield driver, browser
        browser.close()


CELLS = "[...document.querySelectorAll('text[data-unformatted*=\"of row\"]')].map(t => t.getAttribute('data-unformatted'))"


def drawn_counts(page) -> dict[str, int]:
    """TN/FP/FN/TP as the browser drew them, read in one pass (plotly swaps the SVG while redrawing)."""
    cells = page.evaluate(CELLS)
    return {re.search(r"<b>(\w+)</b>", text).group(1).lower(): int(text.split("<br>")[1]) for text in cells}


def wait_until_drawn(page, counts: dict[str, int]) -> None:
    cells = sorted(f"<b>{name.upper()}</b><br>{value}<br>" for name, value in counts.items())
    page.wait_for_function(
        f"expected => {{ const drawn = {CELLS}; return drawn.length == 4 && "
        "expected.every(prefix => drawn.some(text => text.startsWith(prefix))); }", arg=cells, timeout=30_000)


def expected_counts(model: str, threshold: float) -> dict[str, int]:
    labels, scores = split_arrays(open_checkpoint(CHECKPOINTS_DIR / model).predictions, "test")
    return {k: int(v) for k, v in counts_at(labels, scores, threshold).items()}


def test_moving_the_slider_redraws_the_confusion_matrix(app_url, chromium):
    page = chromium[1].new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/threshold_explorer")
    page.wait_for_selector('text[data-unformatted*="of row"]', timeout=90_000)
    model = "cnn"  # the explorer opens on the registry's first model
    slider = page.locator(SLIDER)
    opening = expected_counts(model, float(slider.get_attribute("value")))
    wait_until_drawn(page, opening)
    assert drawn_counts(page) == opening
    for key, threshold in (("Home", 0.0), ("End", 1.0)):
        slider.focus()
        page.keyboard.press(key)
        expected = expected_counts(model, threshold)
        assert expected != opening
        wait_until_drawn(page, expected)
        assert drawn_counts(page) == expected
    page.close()


def _sidebar_is_open(page) -> bool:
    box = page.get_by_test_id("stSidebar").bounding_box()
    return box is not None and box["x"] + box["width"] > 1


def test_on_a_phone_the_sidebar_closes_after_a_navigation_tap(app_url, chromium):
    """With a phone's user agent (Streamlit decides by it) at 390 px, as a presenter's phone shows the app."""
    driver, browser = chromium
    context = browser.new_context(**driver.devices["iPhone 13"])
    page = context.new_page()
    page.goto(app_url)
    page.get_by_role("heading", name="Pneumonia X-ray Explorer").wait_for(timeout=90_000)
    for link, title in (("Threshold explorer", "Threshold explorer"), ("Calibration", "Can I trust the number?")):
        page.get_by_test_id("stExpandSidebarButton").tap()
        page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]').getBoundingClientRect().right > 1")
        page.get_by_test_id("stSidebarNavLink").filter(has_text=link).tap()
        page.get_by_role("heading", name=title).wait_for(timeout=60_000)
        page.wait_for_timeout(800)  # the sidebar's closing transition
        assert not _sidebar_is_open(page), title
    context.close()


def test_a_phi_bearing_dicom_uploads_and_its_case_report_pdf_names_no_one(app_url, chromium, tmp_path):
    from pypdf import PdfReader

    from tests.uploads import PHI, dicom, xray

    upload = tmp_path / "DOE_JANE_PHI-5551234.dcm"
    upload.write_bytes(dicom(xray(22, 256), modality="CR", body_part="CHEST"))
    page = chromium[1].new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/predict")
    page.locator('input[type="file"]').set_input_files(str(upload))
    page.get_by_text("Grad-CAM: where").first.wait_for(timeout=90_000)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Case report (PDF)").click()
    data = download.value.path().read_bytes()
    # what the app rendered; the uploader's chip is the browser showing the user's own file name
    shown = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]')]
        .filter(e => !e.querySelector('[data-testid="stFileUploader"]')).map(e => e.innerText).join(' ')""")
    page.close()
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())
    assert data.startswith(b"%PDF-") and "P(pneumonia)" in text and "Input gate: accepted" in text and "P(pneumonia)" in shown
    for identifier in [*PHI.values(), "DOE", "JANE", "5551234"]:
        assert identifier not in text and identifier not in shown, identifier
    for identifier in PHI.values():  # long enough not to turn up by chance inside compressed image streams
        assert identifier.encode() not in data, identifier


def test_a_zip_of_labelled_xrays_uploads_and_every_model_is_evaluated(app_url, chromium):
    import zipfile

    from tests.uploads import encoded, xray

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as made:
        for index in range(6):
            made.writestr(f"{'PNEUMONIA' if index % 2 else 'NORMAL'}/{index}.png", encoded(xray(index, 256)))
    page = chromium[1].new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/evaluate")
    page.get_by_role("heading", name="Evaluate on your X-rays").wait_for(timeout=90_000)
    page.locator('input[type="file"]').first.set_input_files(
        {"name": "my-set.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()})
    page.get_by_role("button", name="Evaluate").click()
    page.get_by_role("heading", name="Every file").wait_for(timeout=180_000)
    # one figures table per model, drawn as the run's results stream in (on a busy machine, after the heading)
    page.wait_for_function(f"document.querySelector('[data-testid=\"stMain\"]').innerText.split('TP / FP / TN / FN').length - 1 "
                           f"== {len(trained_models())}", timeout=120_000, polling=200)
    text = page.get_by_test_id("stMain").inner_text()
    page.close()
    assert "6 files, 6 labelled." in text and "Too few to say: 3 pneumonias and 3 normals" in text
    assert text.count("TP / FP / TN / FN") == len(trained_models())  # one table per model


PAGES = {  # navigation link -> the page's title
    "Overview": "Pneumonia X-ray Explorer", "Threshold explorer": "Threshold explorer", "Compare models": "Compare models",
    "Predict an X-ray": "Predict an X-ray", "Evaluate on your X-rays": "Evaluate on your X-rays", "Case gallery": "Case gallery", "Does it hold up?": "Does it hold up?",
    "Can I trust the heatmap?": "Can I trust the heatmap?",
    "Calibration": "Can I trust the number?", "Decision curve": "Better than treating everyone, or no one?", "Model card": "Model card",
}


def test_no_page_has_a_serious_or_critical_accessibility_violation(app_url, chromium):
    """axe-core on every page as a visitor reaches it through the navigation, at desktop width."""
    from local_server import SERIOUS, accessibility_violations, settled

    page = chromium[1].new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    found = {}
    for link, title in PAGES.items():
        page.get_by_test_id("stSidebarNavLink").filter(has_text=link).click()
        page.get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
        settled(page)
        found[link] = [v for v in accessibility_violations(page) if v["impact"] in SERIOUS]
    page.close()
    assert found == {link: [] for link in PAGES}
