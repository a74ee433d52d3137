"""Result and dataset files: deterministic ``.npz`` archives that carry their own metadata and
content hash.

The same arrays and metadata always give the same bytes (fixed zip timestamps, sorted entries),
files appear atomically (written to a temporary name, then renamed, so an interrupted job never
leaves a half-written file under the real name), and :func:`load` refuses a file whose arrays no
longer match the hash recorded in it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["save", "load", "content_hash", "IntegrityError", "write_text"]

META = "__meta__"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class IntegrityError(ValueError):
    """A file whose content does not match its recorded hash, or that cannot be read."""


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = _c_order(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    _atomic_write(Path(path), text.encode())


def save(path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> str:
    """Write ``arrays`` and JSON-able ``meta`` to ``path``; returns the content hash, which is
    also stored in the file's metadata under ``sha256``."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if META in arrays:
        raise ValueError(f"The array name {META!r} is reserved.")
    digest = content_hash(arrays)
    meta = dict(meta or {}, sha256=digest)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = dict(arrays, **{META: np.array(json.dumps(meta, sort_keys=True))})
        for name in sorted(entries):
            info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            npy = io.BytesIO()
            np.lib.format.write_array(npy, _c_order(entries[name]), allow_pickle=False)
            zf.writestr(info, npy.getvalue())
    _atomic_write(Path(path), buf.getvalue())
    return digest


def load(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save`; raises :class:`IntegrityError` naming the file if it
    is unreadable, lacks its metadata, or its arrays do not match the recorded hash."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # a truncated or edited archive
        raise IntegrityError(f"{path}: not a readable result file ({exc}).") from None
    if META not in arrays:
        raise IntegrityError(f"{path}: has no metadata; it was not written by this pipeline.")
    meta = json.loads(str(arrays.pop(META)))
    if content_hash(arrays) != meta.get("sha256"):
        raise IntegrityError(
            f"{path}: content does not match its recorded hash; the file was modified or corrupted. "
            "Delete it and rerun the pipeline to regenerate it."
        )
    return arrays, meta


def _c_order(a) -> np.ndarray:
    """``a`` as a C-ordered array of the same shape (``np.ascontiguousarray`` turns 0-d into 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:  # an error or a signal while writing leaves no stray temporary file
        tmp.unlink(missing_ok=True)
