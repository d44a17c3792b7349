"""Many people at once: N browser sessions upload different X-rays to the Predict page at the same moment.

    python benchmarks/load_test.py [--sessions 8 16] [--images 8] [--threads 1 2] [--baseline-ref f4d4207]
    python benchmarks/load_test.py --url http://127.0.0.1:8501      (an app already running, e.g. deploy/serve)

Starts the app on a loopback port (once per --threads value, as $PNEUMONIA_INTRA_OP_THREADS; and the tree at
--baseline-ref, checked out under /tmp, for a before/after in one run), reads every X-ray once in a single session
(the reference), then for each N opens N sessions in headless Chromium, uploads session k's X-ray in all of them
together, and checks each session's probabilities and every image it shows (X-ray, model input, one heatmap per
model) against the reference, byte for byte. Prints errors, mismatches, p50/p95 upload-to-result latency, and the
server's memory and the CPU time it spent on the burst (the browsers run on the same machine, so latency is mostly
theirs). Servers take turns burst by burst, so each N is measured on all of them under the same conditions.
"""

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.async_api import async_playwright

from baseline import checkout  # benchmarks/baseline.py: run this file as a script
from local_server import CHROMIUM, CHROMIUM_ARGS, REPO, cpu_seconds, peak_memory_mb, running_app, StartLine, upload_and_read

FIXTURES = REPO.parent / "shared" / "fixtures" / "cxr"
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


async def burst(browser, server: dict, files: list[Path], sessions: int) -> None:
    """N sessions upload at once to one server; prints what they saw against the server's single-session reference."""
    start = StartLine(sessions)
    tasks = [asyncio.create_task(upload_and_read(browser, server["url"], files[k % len(files)], start)) for k in range(sessions)]
    await start.everyone_arrived()  # every session has the page open: from here on, the server's work is the uploads
    busy = cpu_seconds(server["pid"]) if server["pid"] else float("nan")
    start.go.set()
    results = await asyncio.gather(*tasks)
    busy = (cpu_seconds(server["pid"]) if server["pid"] else float("nan")) - busy
    reference = server["reference"]
    errors = sum(bool(r["errors"]) for r in results)
    mismatches = sum(not r["errors"] and (r["metrics"], r["images"]) != (reference[r["xray"]]["metrics"], reference[r["xray"]]["images"])
                     for r in results)
    latencies = sorted(r["seconds"] for r in results if not r["errors"])
    p95 = latencies[min(len(latencies) - 1, int(np.ceil(0.95 * len(latencies))) - 1)] if latencies else float("nan")
    memory = "server memory {:.0f} MB (peak {:.0f} MB), ".format(*peak_memory_mb(server["pid"])) if server["pid"] else ""
    print(f"{server['label']}, {sessions:2d} sessions: errors {errors}, mismatches {mismatches}, upload-to-result p50 "
          f"{statistics.median(latencies) if latencies else float('nan'):.2f} s, p95 {p95:.2f} s, {memory}"
          f"server CPU {busy:.1f} s for the burst", flush=True)
    for r in results:
        expected = reference[r["xray"]]
        if r["errors"]:
            print(f"   {r['xray']}: {r['errors'][0][:200]}")
        elif r["metrics"] != expected["metrics"]:
            print(f"   {r['xray']}: shown {r['metrics']}, alone {expected['metrics']}")
        elif r["images"] != expected["images"]:
            differ = [i for i, (a, b) in enumerate(zip(r["images"], expected["images"])) if a != b]
            print(f"   {r['xray']}: images {differ} of {len(expected['images'])} differ ({len(r['images'])} shown)")


async def measure(servers: list[dict], files: list[Path], sessions_list: list[int]) -> None:
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for server in servers:
            server["reference"] = {}
            for xray in files:  # one session at a time: what a single user sees
                server["reference"][xray.name] = await upload_and_read(browser, server["url"], xray)
                assert not server["reference"][xray.name]["errors"], server["reference"][xray.name]
            print(f"{server['label']}: reference, {len(files)} X-rays read one at a time, median "
                  f"{statistics.median(r['seconds'] for r in server['reference'].values()):.2f} s each", flush=True)
        for sessions in sessions_list:
            for server in servers:
                await burst(browser, server, files, sessions)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--images", type=int, default=8, help="different X-rays, spread over the sessions")
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="intra-op threads per reading (0: the app's default)")
    parser.add_argument("--baseline-ref", help="also measure the app at this commit (e.g. f4d4207)")
    parser.add_argument("--url", help="measure an app already running there instead of starting one (no server CPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        files = xray_files(Path(folder), args.images)
        servers = []
        if args.url:
            servers.append({"label": args.url, "url": args.url, "pid": None})
        else:
            if args.baseline_ref:
                url, server = stack.enter_context(running_app(root=checkout(args.baseline_ref), timeout=180))
                servers.append({"label": f"at {args.baseline_ref}", "url": url, "pid": server.pid})
            for threads in args.threads:
                url, server = stack.enter_context(running_app({"PNEUMONIA_INTRA_OP_THREADS": str(threads)} if threads else None, timeout=180))
                servers.append({"label": f"this tree, {threads or 'default'} thread(s)", "url": url, "pid": server.pid})
        asyncio.run(measure(servers, files, args.sessions))


if __name__ == "__main__":
    main()
