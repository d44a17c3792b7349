"""The real app on a loopback port, and the headless Chromium that drives it: for the browser test, the
screenshot script and the load and cold-start benchmarks."""

import contextlib
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
def running_app(env: dict | None = None, log=subprocess.DEVNULL, timeout: float = 90):
    """`streamlit run streamlit_app.py` on a free loopback port; yields (url, process) once /_stcore/health answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {}),
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
