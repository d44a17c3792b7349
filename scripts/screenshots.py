"""Screenshot every page of the running app in headless Chromium, at desktop and phone width, into docs/screenshots/.

    python scripts/screenshots.py [--xray path/to/chest-xray.jpeg] [--only predict ...]

Starts `streamlit run streamlit_app.py` on a free loopback port, so run it from a checkout with the requirements
installed. Needs Debian's chromium (or --chromium PATH) and the playwright package.
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from local_server import CHROMIUM, CHROMIUM_ARGS, REPO, running_app

OUT = REPO / "docs" / "screenshots"
DEFAULT_XRAY = REPO.parent / "shared" / "fixtures" / "cxr" / "kermany_person1951_bacteria_4882.jpeg"
DEFAULT_SET = REPO.parent / "shared" / "fixtures" / "resized-224"  # NORMAL/ and PNEUMONIA/: every fifth file is uploaded
PAGES = {  # url path: (file name, text that appears once the page has rendered)
    "": ("overview", "Examples from the test split"),
    "threshold_explorer": ("threshold_explorer", "Metrics against threshold"),
    "comparison": ("comparison", "Where the models disagree"),
    "predict": ("predict", "Grad-CAM: where"),
    "evaluate": ("evaluate", "Every file"),
    "case_gallery": ("case_gallery", "Grad-CAM for"),
    "robustness": ("robustness", "under each change"),
    "calibration": ("calibration", "What a different prevalence does"),
    "decision_curve": ("decision_curve", "It beats both"),
    "model_card": ("model_card", "TRIPOD+AI items"),
}
DEVICES = {"desktop": {"viewport": {"width": 1440, "height": 1000}}, "phone": "iPhone 13"}  # a phone's user agent too: Streamlit adapts to it


def zipped_set(folder: Path) -> bytes:
    """Every fifth X-ray of a labelled folder, zipped in memory."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[::5]:
            archive.writestr(path.relative_to(folder).as_posix(), path.read_bytes())
    return buffer.getvalue()


def shoot(page, url: str, path: str, file_name: str, ready_text: str, xray: Path, out: Path) -> None:
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    page.goto(f"{url}/{path}")
    if path == "predict":
        if xray.exists():
            page.locator('input[type="file"]').set_input_files(str(xray))
        else:
            page.get_by_text("Sample from the test split", exact=True).click()
    if path == "evaluate":
        page.get_by_role("heading", name="Evaluate on your X-rays").wait_for(timeout=120_000)
        page.locator('input[type="file"]').first.set_input_files(
            {"name": "labelled-set.zip", "mimeType": "application/zip", "buffer": zipped_set(DEFAULT_SET)})
        page.get_by_role("button", name="Evaluate").click()
    page.get_by_text(ready_text).first.wait_for(timeout=300_000)
    page.wait_for_timeout(2500)  # let plotly finish drawing
    # Streamlit scrolls inside its main container, so grow the window to the content instead
    content = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(content, 5000)})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out / f"{file_name}.png"))
    page.set_viewport_size({"width": width, "height": height})
    print(f"wrote {out / file_name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xray", type=Path, default=DEFAULT_XRAY, help="image to upload on the Predict page")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--only", nargs="*", help="file names of the pages to shoot (default: all)")
    args = parser.parse_args()
    with running_app() as (url, _), sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for device, settings in DEVICES.items():
            out = OUT / device
            out.mkdir(parents=True, exist_ok=True)
            context = browser.new_context(**({**driver.devices[settings], "device_scale_factor": 1} if isinstance(settings, str) else settings))
            page = context.new_page()
            for path, (file_name, ready_text) in PAGES.items():
                if not args.only or file_name in args.only:
                    shoot(page, url, path, file_name, ready_text, args.xray, out)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
