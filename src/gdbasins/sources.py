"""The code a workflow job runs: its script, and the modules of this package that the script
loads, directly or through other modules (found by reading their import statements, so the list
cannot go stale). One digest of their contents is a param of the job's rule: Snakemake reruns a
job whose params changed, so editing a module reruns exactly the jobs that load it. A param
works wherever the jobs run, with or without a shared file system, where declaring the modules as
input files would not (a storage provider would look for them in the storage)."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NAME = PACKAGE.name


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """Names of the package's modules that the Python file at ``path`` imports anywhere in it
    (function bodies included): ``import gdbasins.x``, ``from gdbasins import x``,
    ``from gdbasins.x import y`` and, inside the package, ``from . import x`` and ``from .x import y``;
    and the modules it names as files (``"x.py"``, e.g. MLflow's models-from-code file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py"):
            found.add(node.value.removesuffix(".py"))
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith(NAME + ".")}
        elif isinstance(node, ast.ImportFrom):
            inside = node.level > 0 and path.parent == package
            if (inside and node.module is None) or (not node.level and node.module == NAME):
                found |= {a.name for a in node.names}  # some of these are names, not modules
            elif inside:
                found.add(node.module.split(".")[0])
            elif not node.level and node.module and node.module.startswith(NAME + "."):
                found.add(node.module.split(".")[1])
    return {name for name in found if (package / f"{name}.py").is_file()}


def modules(script: str | Path, package: Path = PACKAGE) -> list[str]:
    """The modules of ``package`` (this one by default) that running ``script`` loads, sorted:
    ``__init__`` (every import of the package runs it) and everything reachable from it and from
    the script's own imports. Lazy imports inside functions count: they may run."""
    seen = {"__init__"}
    todo = _imports(Path(script), package) | _imports(package / "__init__.py", package)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= _imports(package / f"{name}.py", package)
    return sorted(seen)


def digest(script: str | Path, package: Path = PACKAGE) -> str:
    """SHA-256 (first 16 hex digits) of ``script`` and of every module it loads, with their names:
    it changes when any of them does, and only then (an edit, not a touch)."""
    h = hashlib.sha256()
    for name, path in [("script", Path(script))] + [(m, package / f"{m}.py") for m in modules(script, package)]:
        content = path.read_bytes()
        h.update(f"{name}\0{len(content)}\0".encode())
        h.update(content)
    return h.hexdigest()[:16]


def file_digest(*paths) -> str:
    """SHA-256 (first 16 hex digits) of the given files, with their names: for a rule whose
    digest must not follow every lazy import (see ``store_code`` in ``workflow/rules/common.smk``)."""
    h = hashlib.sha256()
    for path in map(Path, paths):
        content = path.read_bytes()
        h.update(f"{path.name}\0{len(content)}\0".encode())
        h.update(content)
    return h.hexdigest()[:16]
