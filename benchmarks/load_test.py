"""Many people at once: N browser sessions upload different X-rays to the Predict page at the same moment.

    python benchmarks/load_test.py [--sessions 8 16] [--images 8]

Starts the app on a loopback port, reads every X-ray once in a single session (the reference), then for each N
opens N sessions in headless Chromium, uploads session k's X-ray in all of them together, and checks each
session's probabilities and every image it shows (X-ray, model input, one heatmap per model) against the
reference, byte for byte. Prints errors, mismatches, p50/p95 upload-to-result latency, and the server's memory and
the CPU time it spent on the burst (the browsers run on the same machine, so latency is mostly theirs).
"""

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.async_api import async_playwright

from local_server import CHROMIUM, CHROMIUM_ARGS, REPO, cpu_seconds, peak_memory_mb, running_app

FIXTURES = REPO.parent / "shared" / "fixtures" / "cxr"
# A reading is on screen: the script is not running, and there is one heatmap caption per probability shown.
SETTLED = """() => !document.querySelector('[data-testid="stStatusWidget"]')
    && document.querySelectorAll('[data-testid="stMetric"]').length > 0
    && [...document.querySelectorAll('[data-testid="stImageCaption"]')]
         .filter(c => c.innerText.startsWith("Grad-CAM: where")).length
       == document.querySelectorAll('[data-testid="stMetric"]').length"""


async def read_page(page) -> tuple[list[str], list[str]]:
    metrics = await page.locator('[data-testid="stMetric"]').all_inner_texts()
    sources = await page.locator('[data-testid="stImage"] img').evaluate_all("images => images.map(i => i.src)")
    return metrics, sources


def xray_files(folder: Path, count: int) -> list[Path]:
    """Different X-rays: the two full-resolution fixtures when present, then test-split images enlarged to 640 px."""
    files = sorted(FIXTURES.glob("*.jpeg"))[:count]
    with np.load(REPO / "assets" / "pneumoniamnist_test.npz") as data:
        images = data["images"]
    for index in range(count - len(files)):
        path = folder / f"test-{index * 37}.png"
        Image.fromarray(images[index * 37]).resize((640, 640), Image.Resampling.BICUBIC).save(path)
        files.append(path)
    return files


async def upload_and_read(browser, url: str, xray: Path, start: asyncio.Event | None = None) -> dict:
    """One session: open Predict, (wait for the start signal,) upload, wait for every heatmap, read what is shown."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        await page.goto(f"{url}/predict")
        await page.locator('input[type="file"]').wait_for(state="attached", timeout=120_000)
        if start is not None:
            await start.wait()
        began = time.perf_counter()
        await page.locator('input[type="file"]').set_input_files(str(xray))
        await page.wait_for_function(SETTLED, timeout=180_000)
        seconds = time.perf_counter() - began
        shown = None
        while shown != (shown := await read_page(page)):  # read until two reads a second apart agree
            await page.wait_for_timeout(1000)
            await page.wait_for_function(SETTLED, timeout=180_000)
        metrics, sources = shown
        digests = []
        for source in sources:
            body = await (await context.request.get(source)).body()
            digests.append(hashlib.sha256(body).hexdigest())
        errors = await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').all_inner_texts()
        return {"xray": xray.name, "metrics": metrics, "images": digests, "errors": errors, "seconds": seconds}
    except Exception as error:  # noqa: BLE001  (a session that fails is counted, not fatal)
        return {"xray": xray.name, "errors": [f"{type(error).__name__}: {str(error).splitlines()[0]}"], "seconds": float("nan")}
    finally:
        await context.close()


async def measure(url: str, files: list[Path], sessions_list: list[int], server_pid: int) -> None:
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        reference = {}
        for xray in files:  # one session at a time: what a single user sees
            reference[xray.name] = await upload_and_read(browser, url, xray)
            assert not reference[xray.name]["errors"], reference[xray.name]
        print(f"reference: {len(files)} X-rays read one at a time, "
              f"median {statistics.median(r['seconds'] for r in reference.values()):.2f} s each")
        for sessions in sessions_list:
            start = asyncio.Event()
            tasks = [asyncio.create_task(upload_and_read(browser, url, files[k % len(files)], start)) for k in range(sessions)]
            await asyncio.sleep(5)  # let every session open the page before they all upload at once
            busy = cpu_seconds(server_pid)
            start.set()
            results = await asyncio.gather(*tasks)
            busy = cpu_seconds(server_pid) - busy
            errors = sum(bool(r["errors"]) for r in results)
            mismatches = sum(not r["errors"] and (r["metrics"], r["images"]) != (reference[r["xray"]]["metrics"], reference[r["xray"]]["images"])
                             for r in results)
            latencies = sorted(r["seconds"] for r in results if not r["errors"])
            rss, peak = peak_memory_mb(server_pid)
            p95 = latencies[min(len(latencies) - 1, int(np.ceil(0.95 * len(latencies))) - 1)] if latencies else float("nan")
            print(f"{sessions:2d} sessions: errors {errors}, mismatches {mismatches}, upload-to-result p50 "
                  f"{statistics.median(latencies) if latencies else float('nan'):.2f} s, p95 {p95:.2f} s, "
                  f"server memory {rss:.0f} MB (peak {peak:.0f} MB), server CPU {busy:.1f} s for the burst "
                  "(the browsers share the same cores)")
            for r in results:
                expected = reference[r["xray"]]
                if r["errors"]:
                    print(f"   {r['xray']}: {r['errors'][0][:200]}")
                elif r["metrics"] != expected["metrics"]:
                    print(f"   {r['xray']}: shown {r['metrics']}, alone {expected['metrics']}")
                elif r["images"] != expected["images"]:
                    differ = [i for i, (a, b) in enumerate(zip(r["images"], expected["images"])) if a != b]
                    print(f"   {r['xray']}: images {differ} of {len(expected['images'])} differ ({len(r['images'])} shown)")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--images", type=int, default=8, help="different X-rays, spread over the sessions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running_app() as (url, server):
        files = xray_files(Path(folder), args.images)
        asyncio.run(measure(url, files, args.sessions, server.pid))


if __name__ == "__main__":
    main()
