"""Screenshot every page of the running app in headless Chromium, into docs/screenshots/.

    python scripts/screenshots.py [--xray path/to/chest-xray.jpeg]

Starts `streamlit run streamlit_app.py` on a free port, so run it from a checkout with the requirements installed.
Needs Debian's chromium (or --chromium PATH) and the playwright package.
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from local_server import CHROMIUM, CHROMIUM_ARGS, REPO, running_app

OUT = REPO / "docs" / "screenshots"
DEFAULT_XRAY = REPO.parent / "shared" / "fixtures" / "cxr" / "kermany_person1951_bacteria_4882.jpeg"
PAGES = {  # url path: (file name, text that appears once the page has rendered)
    "": ("overview.png", "Examples from the test split"),
    "threshold_explorer": ("threshold_explorer.png", "Metrics against threshold"),
    "comparison": ("comparison.png", "Where the models disagree"),
    "predict": ("predict.png", "Grad-CAM: where"),
    "case_gallery": ("case_gallery.png", "Inspect a case"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xray", type=Path, default=DEFAULT_XRAY, help="image to upload on the Predict page")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    with running_app() as (url, _):
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
            for path, (file_name, ready_text) in PAGES.items():
                page.goto(f"{url}/{path}")
                if path == "predict":
                    if args.xray.exists():
                        page.locator('input[type="file"]').set_input_files(str(args.xray))
                    else:
                        page.get_by_text("Sample from the test split").click()
                page.get_by_text(ready_text).first.wait_for(timeout=120_000)
                page.wait_for_timeout(2500)  # let plotly finish drawing
                # Streamlit scrolls inside its main container, so grow the window to the content instead
                height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
                page.set_viewport_size({"width": 1440, "height": min(height, 4000)})
                page.wait_for_timeout(1500)
                page.screenshot(path=str(OUT / file_name))
                page.set_viewport_size({"width": 1440, "height": 1000})
                print(f"wrote {OUT / file_name}")
            browser.close()


if __name__ == "__main__":
    main()
