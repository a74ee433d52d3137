"""The files one stage writes and a later one reads, each carrying a digest of its whole content:

* result and dataset files: deterministic ``.npz`` archives with their metadata (:func:`save`,
  :func:`load`); the digest covers the arrays and the metadata;
* tables (:func:`write_table`, :func:`read_table`): CSV whose first line is ``# sha256:<digest of
  the rest>`` (``pandas.read_csv(path, comment="#")`` reads them as plain CSV);
* records (:func:`write_record`, :func:`read_record`): JSON objects with a ``sha256`` member, the
  digest of the others.

The same content always gives the same bytes (fixed zip timestamps, sorted entries, sorted keys),
files appear atomically (written to a temporary name, then renamed, so an interrupted job never
leaves a half-written file under the real name), and a reader refuses a file whose content no
longer matches its digest (hand-edited, or damaged), naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["save", "load", "content_hash", "IntegrityError", "write_text", "write_table", "read_table",
           "write_record", "read_record", "REGENERATE"]

META = "__meta__"
_EPOCH = (1980, 1, 1, 0, 0, 0)


#: What to do about a derived file that fails its check: every file of a study is a target of
#: the workflow, so a plain rerun regenerates a deleted one (and what depends on it).
REGENERATE = "Delete it and run snakemake again to regenerate it."

_TABLE_DIGEST = "# sha256:"


class IntegrityError(ValueError):
    """A file whose content does not match its recorded hash, or that cannot be read."""


def _modified(path) -> IntegrityError:
    return IntegrityError(f"{path}: content does not match its recorded hash; the file was modified or "
                          f"corrupted. {REGENERATE}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _meta_text(meta: dict) -> str:
    return json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True)


def _file_digest(arrays: dict[str, np.ndarray], meta: dict) -> str:
    """The digest a result file records: its arrays' (:func:`content_hash`) and its metadata's."""
    return _sha256(f"{content_hash(arrays)}|{_meta_text(meta)}".encode())


def write_table(path, table, float_format: str = "%.12g") -> None:
    """Write a DataFrame as CSV under its digest line, atomically."""
    body = table.to_csv(index=False, float_format=float_format)
    write_text(path, f"{_TABLE_DIGEST}{_sha256(body.encode())}\n{body}")


def read_table(path):
    """The DataFrame :func:`write_table` wrote; :class:`IntegrityError` naming the file if its
    digest line is missing or does not match the rest."""
    import pandas as pd

    text = _read(path)
    head, _, body = text.partition("\n")
    if not head.startswith(_TABLE_DIGEST):
        raise IntegrityError(f"{path}: has no digest line; it was not written by this pipeline, or was "
                             f"rewritten by hand. {REGENERATE}")
    if head[len(_TABLE_DIGEST):] != _sha256(body.encode()):
        raise _modified(path)
    return pd.read_csv(io.StringIO(body)) if body.strip() else pd.DataFrame()


def write_record(path, record: dict) -> None:
    """Write a JSON object with its digest (member ``sha256``), atomically."""
    record = {k: v for k, v in record.items() if k != "sha256"}
    text = json.dumps(dict(record, sha256=_sha256(json.dumps(record, sort_keys=True).encode())), indent=1,
                      sort_keys=True)
    write_text(path, text + "\n")


def read_record(path) -> dict:
    """The object :func:`write_record` wrote, without its digest; :class:`IntegrityError` naming
    the file if it does not parse or its digest does not match."""
    try:
        record = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{path}: not a readable record ({exc.msg}, line {exc.lineno}). {REGENERATE}") from None
    if not isinstance(record, dict) or "sha256" not in record:
        raise IntegrityError(f"{path}: has no digest; it was not written by this pipeline. {REGENERATE}")
    digest = record.pop("sha256")
    if digest != _sha256(json.dumps(record, sort_keys=True).encode()):
        raise _modified(path)
    return record


def _read(path) -> str:
    try:
        return Path(path).read_text()
    except UnicodeDecodeError:
        raise IntegrityError(f"{path}: not text; the file was corrupted. {REGENERATE}") from None


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
    """Write ``arrays`` and JSON-able ``meta`` to ``path``; returns the file's digest (of the
    arrays and the metadata), which is also stored in the metadata under ``sha256``."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if META in arrays:
        raise ValueError(f"The array name {META!r} is reserved.")
    meta = json.loads(_meta_text(meta or {}))  # as it is read back: JSON's types
    digest = _file_digest(arrays, meta)
    meta = dict(meta, sha256=digest)
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
    is unreadable, lacks its metadata, or its arrays or metadata do not match the recorded hash."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # a truncated or edited archive
        raise IntegrityError(f"{path}: not a readable result file ({exc}). {REGENERATE}") from None
    if META not in arrays:
        raise IntegrityError(f"{path}: has no metadata; it was not written by this pipeline. {REGENERATE}")
    meta = json.loads(str(arrays.pop(META)))
    if _file_digest(arrays, meta) != meta.get("sha256"):
        raise _modified(path)
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
