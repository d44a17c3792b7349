"""An earlier commit of this project, checked out under /tmp, so a benchmark can measure it and today's tree in one run."""

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def checkout(ref: str) -> Path:
    """The tree at `ref` (git archive, no .git), extracted once into the temporary folder and reused."""
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    folder = Path(tempfile.gettempdir()) / f"pneumonia-explorer-{commit}"
    if not (folder / "streamlit_app.py").exists():
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
    return folder
