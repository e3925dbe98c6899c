"""The ``sparsebench`` console script: dispatches to the registered sub-commands.

Exit status: 0 on success, 2 for bad input (a ``ValueError``, one line saying what to fix),
1 for a failure during work. ``SPARSEBENCH_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from harness.commands import discover
from harness.interrupts import first_interrupt_only, is_interrupt

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsebench",
        description="Train, benchmark and report sparse CNNs across sparsity patterns.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in sorted(discover().items()):
        cmd_parser = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.configure(cmd_parser)
        cmd_parser.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with first_interrupt_only():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args._run(args) or 0)
    except ValueError as exc:
        _report(exc)
        return EXIT_BAD_INPUT
    except BaseException as exc:  # a failure during work: one line, traceback on request
        if not is_interrupt(exc):
            if not isinstance(exc, Exception):
                raise
            _report(exc)
            return EXIT_FAILURE
        print("sparsebench: interrupted; rerun the same command to resume "
              "(sparsebench train: add --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _report(exc: BaseException) -> None:
    if os.environ.get("SPARSEBENCH_DEBUG"):
        traceback.print_exc()
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"sparsebench: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
