"""Cold start: seconds from `streamlit run` to the Overview's first text, and to its model table, in headless Chromium.

    python benchmarks/cold_start.py [--repeats 3]

Chromium is started first, so only the app's start is timed: server up, first script run, first text drawn.
"""

import argparse
import statistics
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from local_server import CHROMIUM, CHROMIUM_ARGS, running_app

FIRST_TEXT = "Pneumonia X-ray Explorer"


def one_start(browser) -> tuple[float, float, float]:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    started = time.perf_counter()
    with running_app(timeout=120) as (url, _):
        healthy = time.perf_counter() - started
        while True:
            try:
                page.goto(url)
                break
            except PlaywrightError:
                time.sleep(0.1)
        page.get_by_role("heading", name=FIRST_TEXT).wait_for(timeout=120_000)
        first_text = time.perf_counter() - started
        page.locator('[data-testid="stTable"]').nth(1).wait_for(timeout=120_000)  # the models' table
        table = time.perf_counter() - started
    page.close()
    return healthy, first_text, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        runs = [one_start(browser) for _ in range(args.repeats)]
        browser.close()
    for healthy, first_text, table in runs:
        print(f"server healthy {healthy:.1f} s, Overview's first text {first_text:.1f} s, model table {table:.1f} s")
    print(f"median: first text {statistics.median(r[1] for r in runs):.1f} s, model table {statistics.median(r[2] for r in runs):.1f} s")


if __name__ == "__main__":
    main()
