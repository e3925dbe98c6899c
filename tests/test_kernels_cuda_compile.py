"""Every CUDA source compiles with nvcc for sm_80 and sm_90, with every entry point the
launch builders name, no register spills (ptxas -v), and parameter lists (from the PTX)
that match the arguments the Python launch builders pass.  Needs nvcc, not a GPU."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import patterns
from kernels_cuda import build, launch, packing

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


# ----- the Python launch builders pass what each entry point declares ------------------
_ENTRY_PARAMS = re.compile(r"\.entry (\w+)\(([^)]*)\)")
_KIND = {"u64": "P", "u32": "i", "s32": "i"}


@pytest.fixture(scope="module")
def ptx_signatures(tmp_path_factory) -> dict[str, str]:
    """Entry point -> its parameter kinds from the PTX ('P' pointer, 'i' int32)."""
    out = tmp_path_factory.mktemp("ptx")

    def one(family: str) -> str:
        ptx = out / f"{family}.ptx"
        subprocess.run([build.nvcc_path(), "-arch=sm_80", "-ptx", *build.FLAGS, "-I",
                        str(build.SRC_DIR), "-o", str(ptx), str(build.family_source(family))],
                       check=True, capture_output=True)
        return ptx.read_text()

    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(one, SOURCES))
    return {name: "".join(_KIND[t] for t in re.findall(r"\.param \.(\w+)", params))
            for text in texts for name, params in _ENTRY_PARAMS.findall(text)}


LAUNCH_CASES = [("dense", {}), ("filter", {"sparsity": 0.5}), ("unstructured", {"sparsity": 0.5}),
                ("nm", {"n": 2, "m": 4}), ("cs", {"k": 4})] + [
    ("block", {"n": nb, "sparsity": 0.5}) for nb in launch.BSR_PIXELS_PER_LANE]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize(("name", "params"), LAUNCH_CASES)
def test_launch_arguments_match_the_entry_point(ptx_signatures, name, params, dtype):
    p = patterns.make(name, **params)
    w = torch.randn(32, 16, 3, 3)
    packed = packing.pack((w * p.mask(w)).to(dtype), p)
    x = torch.zeros(2, 16, 9, 9, dtype=dtype)
    geom = launch.Geometry(2, 16, 9, 9, 32, 3, 3, 1, 1, 1, 1)
    y = torch.zeros(2, 32, geom.ho, geom.wo, dtype=dtype)
    job = launch.build(packed, geom, x, y, torch.zeros(32))
    kinds = "".join("i" if isinstance(a, int) else "P" for a in job.args)
    assert ptx_signatures[job.name] == kinds
    assert job.grid[0] * job.grid[1] > 0 and job.block[0] % 32 == 0
