"""The real app on a loopback port, and the headless Chromium that drives it: for the browser and deployment tests,
the screenshot script and the load and cold-start benchmarks."""

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# No sandbox as root, and no background connections on a closed network (they are refused, many at a time).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict | None = None, log=subprocess.DEVNULL, timeout: float = 90, root: Path = REPO):
    """`streamlit run streamlit_app.py` (of this tree, or of `root`) on a free loopback port; yields (url, process) once
    /_stcore/health answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)} | (env or {}),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, timeout)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=20)


def wait_until_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, in MB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


SERIOUS = ("serious", "critical")
REPLICA_COOKIE = "STREAMLIT_REPLICA"  # deploy/serve's HAProxy pins a browser to its replica with it


def settled(page, timeout: float = 90_000) -> None:
    """Wait until the page's script has finished running and its title is drawn."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"] h1', timeout=timeout)
    page.wait_for_timeout(250)  # charts draw after the script ends


def accessibility_violations(page) -> list[dict]:
    """axe-core's violations on the page as it stands (axe-playwright-python): rule, impact, help and how many nodes."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page).response
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"]),
             "where": [node["target"][0] for node in v["nodes"][:3]]} for v in results["violations"]]


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


class StartLine:
    """Sessions that upload together: each arrives once its page is open (or once it has failed to open), and all
    start when every one has arrived, so that a burst measures uploads, not page loads."""

    def __init__(self, sessions: int):
        self.sessions, self.arrived, self.go = sessions, 0, asyncio.Event()

    async def everyone_arrived(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.arrived < self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.1)


async def upload_and_read(browser, url: str, xray: Path, start: StartLine | None = None) -> dict:
    """One session: open Predict, (wait at the start line,) upload, wait for every heatmap, read what is shown."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    waiting = start is not None
    try:
        await page.goto(f"{url}/predict", timeout=120_000)
        await page.locator('input[type="file"]').wait_for(state="attached", timeout=120_000)
        if waiting:
            waiting = False
            start.arrived += 1
            await start.go.wait()
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
        replica = next((c["value"] for c in await context.cookies() if c["name"] == REPLICA_COOKIE), None)
        return {"xray": xray.name, "metrics": metrics, "images": digests, "errors": errors, "seconds": seconds, "replica": replica}
    except Exception as error:  # noqa: BLE001  (a session that fails is counted, not fatal)
        if waiting:
            start.arrived += 1
        return {"xray": xray.name, "errors": [f"{type(error).__name__}: {str(error).splitlines()[0]}"], "seconds": float("nan")}
    finally:
        await context.close()
