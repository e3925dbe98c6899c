"""Every CUDA source compiles with nvcc for sm_80 and sm_90, with every entry point the
launch builders name, and no register spills (ptxas -v).  Needs nvcc, not a GPU."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kernels_cuda import build, launch

ARCHS = ("sm_80", "sm_90")
SOURCES = [p.stem for p in build.sources()]

pytestmark = pytest.mark.skipif(build.nvcc_path() is None,
                                reason="nvcc not found on PATH or in $CUDA_HOME")


def _expected_entries(family: str) -> set[str]:
    dtypes = launch.DTYPE_SUFFIX.values()
    if family == "bsr":
        return {f"sb_bsr_n{nb}_p{ppt}_{s}"
                for nb, ppt in launch.BSR_PIXELS_PER_LANE.items() for s in dtypes}
    return {f"sb_{family}_{s}" for s in dtypes}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[tuple[str, str], tuple[Path, list[build.KernelUsage]]]:
    out = tmp_path_factory.mktemp("cubins")

    def one(job: tuple[str, str]) -> tuple[Path, list[build.KernelUsage]]:
        family, arch = job
        cubin = out / f"{family}_{arch}.cubin"
        log = build.compile_cubin(build.family_source(family), arch, cubin, verbose=True)
        return cubin, build.ptxas_usage(log)

    jobs = [(f, a) for f in SOURCES for a in ARCHS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(jobs, pool.map(one, jobs), strict=True))


def test_every_family_has_a_source():
    assert set(SOURCES) == set(launch.BUILDERS)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", SOURCES)
def test_source_compiles_with_its_entry_points(compiled, family, arch):
    cubin, usage = compiled[(family, arch)]
    assert cubin.stat().st_size > 0
    assert {u.name for u in usage} == _expected_entries(family)
    assert all(u.arch == arch for u in usage)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", SOURCES)
def test_no_register_spills(compiled, family, arch):
    _, usage = compiled[(family, arch)]
    spilled = [(u.name, u.spill_bytes) for u in usage if u.spill_bytes]
    assert not spilled
    assert all(0 < u.registers <= 255 for u in usage)


def test_cubin_cache_reuses_a_compile(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEBENCH_CACHE", str(tmp_path))
    first = build.cached_cubin("nm", "sm_80")
    stamp = first.stat().st_mtime_ns
    assert build.cached_cubin("nm", "sm_80") == first
    assert first.stat().st_mtime_ns == stamp
    assert build.source_hash() in str(first)


def test_compile_error_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.cu"
    bad.write_text('extern "C" __global__ void k() { undefined_symbol(); }\n')
    with pytest.raises(RuntimeError, match="nvcc failed on bad.cu for sm_80"):
        build.compile_cubin(bad, "sm_80", tmp_path / "bad.cubin")


def test_unknown_family_is_a_value_error():
    with pytest.raises(ValueError, match="no CUDA kernel family"):
        build.family_source("winograd")
