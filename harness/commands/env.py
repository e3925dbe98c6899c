"""``sparsebench env``: print the captured machine, software and git state as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands import register


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--git", type=Path, default=Path("."), help="checkout to describe")


def run(args: argparse.Namespace) -> int:
    from harness.environment import capture_machine, capture_software, git_state

    commit, dirty = git_state(args.git)
    captured = {
        "machine": capture_machine(),
        "software": capture_software(),
        "git": {"commit": commit, "dirty": dirty},
    }
    print(json.dumps(captured, indent=2, sort_keys=True))
    return 0


register("env", "print the captured environment (machine, software, git) as JSON",
         configure, run)  # fmt: skip
