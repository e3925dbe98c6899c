"""``sparsebench env``: print the captured machine, software and code state as JSON (the
code is the project's own source tree unless ``--git`` names another checkout)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands import register


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--git", type=Path, default=None,
                        help="describe the git state of this checkout instead of sparsebench's")


def run(args: argparse.Namespace) -> int:
    from harness.environment import capture_machine
    from sparsebench.provenance import code_state, git_state, software_versions

    code = code_state()
    commit, dirty = (code.commit, code.dirty) if args.git is None else git_state(args.git)
    captured = {
        "machine": capture_machine(),
        "software": software_versions(),
        "git": {"commit": commit, "dirty": dirty},
        "code_fingerprint": code.fingerprint,
    }
    print(json.dumps(captured, indent=2, sort_keys=True))
    return 0


register("env", "print the captured environment (machine, software, git) as JSON",
         configure, run)  # fmt: skip
