"""Import the real-world corpus (tests/import_corpus_public: torchvision, pytorch/examples, nanoGPT, minGPT,
vit-pytorch, Pytorch-UNet) from PyTorch and print per model whether it imported verified, imported with problems,
or failed, with the reason in words; then the totals. Issue 20's goal: >= 90 % verified.

    python bench/bench_import_corpus.py [--only SUBSTRING] [--table] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "import_corpus_public"))

from corpus import ENTRIES  # noqa: E402
from corpus_outcome import import_entry  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402

QUICK = ("examples mnist Net", "examples dcgan Generator")  # two small models: shows the bench runs (CI)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="import only the entries whose name contains this")
    parser.add_argument("--table", action="store_true", help="print a Markdown table instead of JSON")
    parser.add_argument("--names", nargs="*", default=None, help="import only the entries of these exact names")
    args = parse_args(parser, {"names": QUICK}, argv)
    entries = [e for e in ENTRIES if (not args.only or args.only.lower() in e.name.lower())
               and (args.names is None or e.name in args.names)]
    load_before = os.getloadavg()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the models' own prints (nanoGPT's parameter count)
        rows = [import_entry(e) for e in entries]
    totals = {s: sum(r["status"] == s for r in rows) for s in ("verified", "imported", "failed", "traceback")}
    report = {
        "bench": "import_corpus",
        "quick": args.quick,
        "models": len(rows),
        "totals": totals,
        "verified_percent": round(100 * totals["verified"] / max(1, len(rows)), 1),
        "missing_tensor_op": [r["name"] for r in rows if r["tensor_op"]],
        "seconds_total": round(time.perf_counter() - started, 1),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "results": [{k: v for k, v in r.items() if k != "trace"} for r in rows],
    }
    if args.table:
        print("| model | PyTorch import | reason |\n|---|---|---|")
        for r in rows:
            print(f"| {r['name']} | {r['status']} | {r['reason'][:160].replace('|', '/')} |")
        print(f"\n{totals['verified']} of {len(rows)} verified ({report['verified_percent']} %)")
    else:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
