"""The same numbers on every x86-64 machine: which OpenBLAS kernels run.

OpenBLAS (under NumPy and SciPy) picks its kernels for the CPU it detects: some AVX-512 CPUs get
the SkylakeX kernels, most others the Haswell (AVX2) ones. The two sum in a different order, the
last bit of a matrix product differs, and training many epochs from a chaotic start turns that bit
into a different endpoint for some seeds: the default study run on two machines gave different
outcome counts (circles: 21 against 24 batch plateaus) until both used one kernel set. Pinning the
Haswell kernels, which every x86-64 CPU with AVX2 and FMA runs (Intel since 2013, AMD since
2015), makes results bit-identical across such machines. Other CPUs (ARM, older x86) keep their
own kernels and may differ in the last bits.

This module imports nothing heavy: the package pins the kernels on import, before NumPy loads
OpenBLAS (which reads ``OPENBLAS_CORETYPE`` once, when it is loaded); the workflow pins them for
every job it starts.
"""

from __future__ import annotations

import os
import platform

CORETYPE_VAR = "OPENBLAS_CORETYPE"
PINNED = "Haswell"


def _cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def pin_kernels(environ=None, machine: str | None = None, cpuinfo: str | None = None) -> str | None:
    """Set ``OPENBLAS_CORETYPE=Haswell`` in ``environ`` (default: this process's environment,
    and so every process it starts) on an x86-64 CPU with AVX2 and FMA, unless already set.
    Returns the core type that is now set, or ``None`` when the CPU keeps OpenBLAS's own
    choice. Takes effect in a process that has not loaded NumPy yet."""
    environ = os.environ if environ is None else environ
    if environ.get(CORETYPE_VAR):
        return environ[CORETYPE_VAR]  # the user's choice
    machine = machine if machine is not None else platform.machine()
    if machine.lower() not in ("x86_64", "amd64"):
        return None
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return None  # not Linux: cannot tell whether the CPU runs AVX2
    if not {"avx2", "fma"} <= _cpu_flags(cpuinfo):
        return None
    environ[CORETYPE_VAR] = PINNED
    return PINNED


def kernels() -> str:
    """The BLAS libraries loaded in this process and the kernels they run, e.g.
    ``openblas 0.3.31 (Haswell)``; empty when none is found."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    seen = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        text = f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture', '?')})"
        if text not in seen:
            seen.append(text)
    return ", ".join(seen)
