"""JSON state files that a kill can never tear: every run writes its markers through here."""

from __future__ import annotations

import json
import os
from typing import Any, Optional


def write_json(path: str, obj: Any, indent: int = 2) -> None:
    """Write to a temporary file beside ``path``, then rename (atomic on POSIX)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, default=str)
    os.replace(tmp, path)


def read_json(path: str) -> Optional[Any]:
    """File contents, or None when missing or unreadable (e.g. torn by a writer outside ``write_json``)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
