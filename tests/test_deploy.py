"""deploy/serve: several app processes behind HAProxy on one port; each session is pinned to one replica, every
session sees what one alone sees, and losing a replica loses no new session."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys

import pytest
from PIL import Image

from core.assets import load_test_images
from local_server import CHROMIUM, CHROMIUM_ARGS, REPO, free_port, StartLine, upload_and_read, wait_until_healthy

pytestmark = pytest.mark.skipif(not (CHROMIUM and shutil.which("haproxy")), reason="needs Debian's chromium and haproxy")


@pytest.fixture(scope="module")
def two_replicas():
    """deploy/serve 2 PORT, started as a person would, with the replicas' process ids it prints."""
    port = free_port()
    serve = subprocess.Popen([str(REPO / "deploy" / "serve"), "2", str(port)], env=os.environ | {"PYTHON": sys.executable},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    replicas = {}
    for line in serve.stdout:
        if line.startswith("replica "):
            replicas[f"replica{line.split()[1].rstrip(':')}"] = int(line.split("pid ")[1].split(",")[0])
        if line.startswith("HAProxy:"):
            break
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, 60)
    yield url, serve, replicas
    serve.send_signal(signal.SIGTERM)  # stops the proxy and every replica
    assert serve.wait(timeout=60) == 0
    assert not [pid for pid in replicas.values() if os.path.exists(f"/proc/{pid}")]


def _xrays(folder, count: int):
    images = load_test_images()[0]
    paths = []
    for k in range(count):
        path = folder / f"test-{k * 101}.png"
        Image.fromarray(images[k * 101]).resize((512, 512), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


async def _sessions(url: str, files: list, count: int, together: bool) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if not together:
                return [await upload_and_read(browser, url, files[k % len(files)]) for k in range(count)]
            start = StartLine(count)
            tasks = [asyncio.create_task(upload_and_read(browser, url, files[k % len(files)], start)) for k in range(count)]
            await start.everyone_arrived()
            start.go.set()
            return list(await asyncio.gather(*tasks))
        finally:
            await browser.close()


def _seen(result: dict) -> tuple:
    return result["metrics"], result["images"]


def test_two_replicas_serve_eight_sessions_as_one_alone_and_survive_losing_one(two_replicas, tmp_path):
    url, serve, replicas = two_replicas
    files = _xrays(tmp_path, 2)
    alone = {r["xray"]: r for r in asyncio.run(_sessions(url, files, 2, together=False))}
    assert all(not r["errors"] and r["metrics"] for r in alone.values()), alone

    together = asyncio.run(_sessions(url, files, 8, together=True))
    assert [r["errors"] for r in together] == [[]] * 8
    assert all(_seen(r) == _seen(alone[r["xray"]]) for r in together)  # byte for byte: probabilities and every image
    assert {r["replica"] for r in together} == set(replicas)  # both replicas served sessions

    lost = next(iter(replicas))
    os.kill(replicas[lost], signal.SIGKILL)
    after = asyncio.run(_sessions(url, files, 2, together=False))
    assert [r["errors"] for r in after] == [[]] * 2
    assert all(_seen(r) == _seen(alone[r["xray"]]) and r["replica"] != lost for r in after)
    assert serve.poll() is None  # the proxy and the other replica carry on


def test_deploy_serve_refuses_a_wrong_call_with_its_usage():
    result = subprocess.run([str(REPO / "deploy" / "serve"), "two", "8501"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "usage: deploy/serve N PORT" in result.stderr
