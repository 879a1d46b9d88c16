"""How many models of the import corpus come through each ONNX exporter as written (issue 20): exported with
``torch.onnx.export(model, args, "model.onnx")`` (dynamo, the default: weights beside the file) and with
``dynamo=False``, nothing else set, then imported as the CLI does. Prints JSON: counts per exporter, each model's
outcome and why it fails, seconds taken, and the load average (the machine is shared).

Usage: python bench/bench_import_onnx.py [--only NAME ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quick_mode import parse_args  # noqa: E402
from tests.import_corpus.onnx_as_written import EXPORTERS, MODELS, outcome  # noqa: E402

QUICK = ["mlp", "lenet"]  # two small models: shows the bench runs (CI)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None, help="model names (default: the whole corpus)")
    args = parse_args(parser, {"only": QUICK}, argv)
    names = args.only or list(MODELS)
    start = time.perf_counter()
    per_exporter = {}
    for exporter in EXPORTERS:
        outcomes = {name: outcome(name, exporter) for name in names}
        per_exporter[exporter] = {"through": sum(o["through"] for o in outcomes.values()), "of": len(names),
                                  "failing": {n: o["why"] for n, o in outcomes.items() if not o["through"]}}
    print(json.dumps({"quick": args.quick, "exporters": per_exporter, "seconds": round(time.perf_counter() - start, 1),
                      "loadavg": list(os.getloadavg())}, indent=2))


if __name__ == "__main__":
    main()
