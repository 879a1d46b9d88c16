"""Import the real-world corpus (tests/import_corpus_public: torchvision, pytorch/examples, nanoGPT, minGPT,
vit-pytorch, Pytorch-UNet) from PyTorch and print per model whether it imported verified, imported with problems,
or failed, with the reason in words; then the totals. Issue 20's goal: >= 90 % verified.

    python bench/bench_import_corpus.py [--only SUBSTRING] [--table] [--onnx] [--quick]

--onnx also exports each model with both ONNX exporters as a user writes it and imports each file (minutes more).
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
from corpus_outcome import ONNX_EXPORTERS, import_entry, import_entry_onnx  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402

QUICK = ("examples mnist Net", "examples dcgan Generator")  # two small models: shows the bench runs (CI)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="import only the entries whose name contains this")
    parser.add_argument("--table", action="store_true", help="print a Markdown table instead of JSON")
    parser.add_argument("--onnx", action="store_true", help="also import each model's file from both ONNX exporters")
    parser.add_argument("--names", nargs="*", default=None, help="import only the entries of these exact names")
    args = parse_args(parser, {"names": QUICK}, argv)
    entries = [e for e in ENTRIES if (not args.only or args.only.lower() in e.name.lower())
               and (args.names is None or e.name in args.names)]
    load_before = os.getloadavg()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the models' own prints (nanoGPT's parameter count)
        rows = [import_entry(e) for e in entries]
        onnx = {x: [import_entry_onnx(e, x) for e in entries] for x in ONNX_EXPORTERS} if args.onnx else {}
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
    for exporter, found in onnx.items():
        verified = sum(r["status"] == "verified" for r in found)
        report[f"onnx_{exporter}"] = {"verified": verified, "of": len(found),
                                      "verified_percent": round(100 * verified / max(1, len(found)), 1),
                                      "results": found}
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    report["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    if args.table:
        heads = ["PyTorch import", *(f"ONNX ({x})" for x in onnx)]
        print(f"| model | {' | '.join(heads)} | reason |\n|---|{'---|' * len(heads)}---|")
        for k, r in enumerate(rows):
            statuses = [r["status"], *(found[k]["status"] for found in onnx.values())]
            # The first thing that stops it, whole: each is one sentence with what to do, never cut mid-way.
            reason = next((x.get("first") or x["reason"] for x in [r, *(found[k] for found in onnx.values())]
                           if x["status"] != "verified"), r["reason"])
            print(f"| {r['name']} | {' | '.join(statuses)} | {reason.replace('|', '/')} |")
        print(f"\n{totals['verified']} of {len(rows)} verified from PyTorch ({report['verified_percent']} %)")
        for exporter in onnx:
            o = report[f"onnx_{exporter}"]
            print(f"{o['verified']} of {o['of']} verified from ONNX, {exporter} exporter ({o['verified_percent']} %)")
        print(f"{report['seconds_total']} s, load average {report['load_average_before_after']}")
    else:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
