"""The OpenBLAS kernels are pinned so that results do not depend on the CPU (gdbasins.blas)."""

import os
import subprocess
import sys

from gdbasins import blas

AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n"
AVX512 = AVX2.replace("bmi2", "bmi2 avx512f avx512dq")
OLD = "flags\t\t: fpu sse2 sse4_2 avx\n"


def test_an_x86_cpu_with_avx2_gets_the_haswell_kernels_avx512_included():
    for cpuinfo in (AVX2, AVX512):
        env = {}
        assert blas.pin_kernels(env, machine="x86_64", cpuinfo=cpuinfo) == "Haswell"
        assert env == {"OPENBLAS_CORETYPE": "Haswell"}


def test_a_users_choice_is_kept():
    env = {"OPENBLAS_CORETYPE": "SkylakeX"}
    assert blas.pin_kernels(env, machine="x86_64", cpuinfo=AVX512) == "SkylakeX"
    assert env == {"OPENBLAS_CORETYPE": "SkylakeX"}


def test_other_cpus_keep_openblas_own_choice():
    for machine, cpuinfo in (("aarch64", "Features\t: fp asimd\n"), ("x86_64", OLD), ("x86_64", "")):
        env = {}
        assert blas.pin_kernels(env, machine=machine, cpuinfo=cpuinfo) is None
        assert env == {}


def test_importing_the_package_pins_the_kernels_numpy_then_runs():
    # A fresh interpreter with the variable unset, as a user's or a job's would be.
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    code = ("import os, gdbasins, numpy; from gdbasins.blas import kernels; "
            "print(os.environ.get('OPENBLAS_CORETYPE')); print(kernels())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    expected = blas.pin_kernels(environ={})  # what this machine's CPU allows
    assert out[0] == str(expected)
    assert out[1].startswith("openblas ")
    if expected:
        assert f"({expected})" in out[1]  # OpenBLAS runs the pinned kernels, not its own pick
