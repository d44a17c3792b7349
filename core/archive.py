"""A set of X-ray files, from a zip, a folder or uploaded files, read one file at a time and never written to disk.

A zip is checked as a whole before any entry is read (entry count, declared size, paths that point outside it), and
each entry again when its turn comes (encrypted, itself an archive, over the single upload's size, compressed more
than any image is); a refusal is one sentence. Only one file's bytes are held at a time.
"""

import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

from core.imaging import MAX_FILE_MB

MAX_ENTRIES = 5_000
MAX_DECLARED_BYTES = 500 * 1000 ** 2  # 500 MB uncompressed, all entries together, as the archive declares them
MAX_RATIO = 100  # uncompressed over compressed size: images are compressed already, zip bombs reach thousands
MAX_FILE_BYTES = MAX_FILE_MB * 1024 ** 2  # as Streamlit counts a megabyte
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!", b"BZh", b"\xfd7zXZ")
NOT_IMAGES = (".md", ".txt", ".csv", ".json", ".html", ".htm", ".xml", ".yaml", ".yml", ".py", ".log")  # read-mes, label files
NESTED = "it is itself an archive, and archives inside a set are not opened: unpack it and add its X-rays to the set."


class ArchiveError(ValueError):
    """The whole archive is refused before any file is read; the message is one sentence for the user."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a set: its bytes, or the sentence saying why it was not read."""

    name: str  # its path inside the set, with forward slashes
    data: bytes | None
    problem: str | None = None


@dataclass(frozen=True)
class FileSet:
    """The files of a set, in order, each read only when iterated; and what was left out by name (read-mes, labels)."""

    readers: tuple[tuple[str, Callable[[], SourceFile]], ...]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.readers)

    def __iter__(self) -> Iterator[SourceFile]:
        for _, read in self.readers:
            yield read()


def is_archive(data: bytes) -> bool:
    return data.startswith(ARCHIVE_MAGIC)


def _left_out(name: str) -> bool:
    """Not meant as an image: a hidden file, a macOS resource fork, or a text file such as a read-me or the labels."""
    parts = PurePosixPath(name).parts
    return any(part.startswith(".") or part == "__MACOSX" for part in parts) or name.lower().endswith(NOT_IMAGES)


def _unsafe(name: str) -> bool:
    """An absolute path, a drive letter, or a step up (..): a name that would land outside a folder it was unpacked in."""
    return name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name)) or ".." in re.split(r"[\\/]", name)


def _file_problem(name: str, size: int) -> str | None:
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        return f"{name} was not read: {NESTED}"
    if size > MAX_FILE_BYTES:
        return f"{name} was not read: it is {size / 1024 ** 2:.0f} MB, and one X-ray may be at most {MAX_FILE_MB} MB (as a single upload)."
    return None


def _plain_file(name: str, size: int, read: Callable[[], bytes]) -> SourceFile:
    """A file outside any zip: checked by name and size before its bytes are read."""
    problem = _file_problem(name, size)
    return SourceFile(name, None, problem) if problem else _checked(name, read())


def _checked(name: str, data: bytes) -> SourceFile:
    if is_archive(data):
        return SourceFile(name, None, f"{name} was not read: {NESTED}")
    return SourceFile(name, data)


def open_zip(source) -> zipfile.ZipFile:
    """A zip (a path or a binary file object) whose directory passed every whole-archive check; ArchiveError otherwise."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ArchiveError("This file is not a zip archive the app can read; upload a .zip, or the X-rays themselves.") from None
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > MAX_ENTRIES:
        raise ArchiveError(f"The archive holds {len(entries):,} files; a set may hold at most {MAX_ENTRIES:,}: split it, "
                           "or run python validate.py on the folder.")
    declared = sum(info.file_size for info in entries)
    if declared > MAX_DECLARED_BYTES:
        raise ArchiveError(f"The archive declares {declared / 1000 ** 2:,.0f} MB once unpacked; a set may hold at most "
                           f"{MAX_DECLARED_BYTES / 1000 ** 2:,.0f} MB: split it.")
    unsafe = next((info.filename for info in archive.infolist() if _unsafe(info.filename)), None)
    if unsafe is not None:
        raise ArchiveError(f"The archive names a file outside itself ({unsafe[:80]!r}: an absolute path or a step up with ..); "
                           "such archives are refused whole.")
    return archive


def _zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> SourceFile:
    """One entry's bytes, read from the archive in memory, after its own checks."""
    name = info.filename
    if info.flag_bits & 0x1:
        return SourceFile(name, None, f"{name} was not read: it is encrypted (password-protected); the app reads open files only.")
    problem = _file_problem(name, info.file_size)
    if problem:
        return SourceFile(name, None, problem)
    if info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return SourceFile(name, None, f"{name} was not read: it would unpack to {info.file_size / max(info.compress_size, 1):,.0f} "
                                      f"times its packed size (at most {MAX_RATIO} for an image), as a zip bomb does.")
    try:
        with archive.open(info) as stream:
            data = stream.read(info.file_size + 1)  # zipfile stops at the declared size; the + 1 would show a liar
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError):
        return SourceFile(name, None, f"{name} was not read: this entry of the archive is damaged or packed in a way the app does not read.")
    if len(data) != info.file_size:
        return SourceFile(name, None, f"{name} was not read: its size differs from what the archive declares.")
    return _checked(name, data)


def zip_set(source) -> FileSet:
    """The files of a zip (a path or a binary file object), each read from the archive when its turn comes."""
    archive = open_zip(source)
    readers, skipped = [], []
    for info in archive.infolist():
        if info.is_dir():
            continue
        if _left_out(info.filename):
            skipped.append(info.filename)
            continue
        readers.append((info.filename, lambda info=info: _zip_entry(archive, info)))
    return FileSet(tuple(readers), tuple(skipped))


def folder_set(folder: Path) -> FileSet:
    """The files under a folder, at any depth, in path order; each read when its turn comes."""
    folder = Path(folder)
    readers, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if _left_out(name):
            skipped.append(name)
            continue
        readers.append((name, lambda path=path, name=name: _plain_file(name, path.stat().st_size, path.read_bytes)))
    if len(readers) > MAX_ENTRIES:
        raise ArchiveError(f"The folder holds {len(readers):,} files; a set may hold at most {MAX_ENTRIES:,}: split it.")
    return FileSet(tuple(readers), tuple(skipped))


def path_set(path: Path) -> FileSet:
    """A folder or a zip file, by what it is."""
    path = Path(path)
    if path.is_dir():
        return folder_set(path)
    if not path.is_file():
        raise ArchiveError(f"There is no file or folder at {path}.")
    return zip_set(path)


def uploads_set(uploads: list[tuple[str, BinaryIO | bytes]]) -> FileSet:
    """Uploaded files (name, a binary file object or bytes): a zip among them is opened where it lies (no copy) as a set
    of its own files, checked as any zip; the rest are files of the set. ArchiveError for a zip failing its checks."""
    readers, skipped = [], []
    for name, upload in uploads:
        stream = io.BytesIO(upload) if isinstance(upload, bytes) else upload
        stream.seek(0)
        start = stream.read(4)
        stream.seek(0)
        if start in (b"PK\x03\x04", b"PK\x05\x06"):
            inner = zip_set(stream)
            readers += inner.readers
            skipped += inner.skipped
        elif _left_out(name):
            skipped.append(name)
        else:
            size = stream.seek(0, io.SEEK_END)
            readers.append((name, lambda name=name, stream=stream, size=size: _plain_file(name, size, lambda: _all_of(stream))))
    if len(readers) > MAX_ENTRIES:
        raise ArchiveError(f"The upload holds {len(readers):,} files; a set may hold at most {MAX_ENTRIES:,}: split it, "
                           "or run python validate.py on the folder.")
    return FileSet(tuple(readers), tuple(skipped))


def _all_of(stream: BinaryIO) -> bytes:
    stream.seek(0)
    return stream.read()
