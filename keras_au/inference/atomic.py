"""Outputs written whole or not at all: a temporary name in the destination folder, then ``os.replace``.

A crash, a full disk or a bad input half-way leaves the previous file (or none) in place, never a truncated
CSV, video or page that looks finished. The temporary file lives in the same folder so the rename stays on
one file system (atomic there).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


class OutputError(OSError):
    """An output path that cannot be written; the message names it."""


def check_writable(path: str) -> None:
    """Fails now, before a long run, when ``path`` cannot be created (folder missing and not creatable,
    a file where a folder should be, a folder in the way, no permission)."""
    with atomic_path(path) as tmp:
        open(tmp, "wb").close()
        raise _Probe()  # never replace: only probe


class _Probe(Exception):
    pass


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path beside ``path`` (same extension, so tools that infer the format still do);
    renamed onto ``path`` when the block ends without an exception, removed otherwise."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=os.path.splitext(name)[1] or ".tmp", dir=folder)
        os.close(fd)
    except (FileExistsError, NotADirectoryError) as e:
        raise OutputError(f"cannot write {path}: a file is in the way of its folder {folder}") from e
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        yield tmp
    except _Probe:
        _remove(tmp)
        return
    except BaseException:
        _remove(tmp)
        raise
    try:
        os.chmod(tmp, 0o644 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e


def _remove(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
