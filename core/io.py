"""Atomic file writes: a crash mid-write leaves the previous file, never a torn one."""

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, write) -> None:
    """Call write(stream) on a temporary file beside path, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; checkpoints are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda stream: stream.write(data))


def replace_between(path: Path, start: str, end: str, text: str) -> None:
    """Rewrite the part of a text file between two marker lines (generated tables in Markdown files)."""
    before, rest = Path(path).read_text().split(start)
    _, after = rest.split(end)
    atomic_write_bytes(path, f"{before}{start}\n{text}\n{end}{after}".encode())
