"""``--quick``, shared by every script in bench/: its smallest run (tiny sizes, one repeat), so CI can show that the
bench still runs and prints its JSON (tests/test_bench_quick.py) without anyone reading its figures.

A benchmark nothing runs rots silently (bench_engine.py broke when the training config became frozen); a quick run
in the test suite catches that the day it happens. Quick figures mean nothing: the JSON says ``"quick": true``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def parse_args(parser: argparse.ArgumentParser, quick: dict[str, Any],
               argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; with ``--quick`` the values in ``quick`` replace the defaults (flags given still win)."""
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one repeat: shows the bench still runs (CI); its figures mean nothing")
    args = parser.parse_args(argv)
    if args.quick:
        unknown = set(quick) - set(vars(args))
        if unknown:  # a renamed option must not leave quick mode silently running the full bench
            raise ValueError(f"quick values for options this bench does not have: {sorted(unknown)}")
        parser.set_defaults(**quick)
        args = parser.parse_args(argv)
    return args
