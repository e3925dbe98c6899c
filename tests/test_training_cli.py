"""``sparsebench train`` refuses bad input with exit status 2, one line, nothing written."""

from __future__ import annotations

import subprocess
import sys

import torch


def _train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "train", "--model", "resnet20",
         "--dataset", "fashion-mnist", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_recipe_that_does_not_fit_the_pattern_exits_2(tmp_path):
    out = tmp_path / "out"
    proc = _train("--pattern", "block", "--n", "4", "--sparsity", "0.75", "--recipe", "srste",
                  "--out", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot train pattern block" in lines[0]
    assert not out.exists()


def test_foreign_init_checkpoint_exits_2(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    out = tmp_path / "out"
    proc = _train("--pattern", "cs", "--k", "4", "--recipe", "oneshot", "--init", str(foreign),
                  "--train-subset", "64", "--test-subset", "64", "--out", str(out))
    assert proc.returncode == 2
    assert "is not a sparsebench checkpoint" in proc.stderr
    assert not out.exists()
