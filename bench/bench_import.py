"""Import time of a ResNet-50-sized model (torchvision's layout, 25.6 M parameters, 3x224x224 input): trace, map,
and verify (rebuild from generated code, copy weights, compare outputs at batch 1). Prints JSON; the target is <= 2 s
for the whole import (import_and_verify_s_median).

The same model exported with torch.onnx.export, and the GPT of the test corpus (whose attention regions are found by
running the file in onnxruntime), are timed through the ONNX path too: read, map, group and verify (``onnx``).

Usage: python bench/bench_import.py [--repeat 3] [--size 224]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from importer import example_inputs, import_module  # noqa: E402
from tests.import_corpus.sequence import GPT  # noqa: E402
from tests.import_corpus.vision import resnet50  # noqa: E402

TARGET_S = 2.0


def _onnx_times(model: torch.nn.Module, example: tuple, repeat: int, dynamo: bool = False) -> dict:
    """Median seconds to import the model's ONNX export (TorchScript-based, or torch's default dynamo exporter),
    verified against onnxruntime."""
    from importer.onnx_import import import_onnx

    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporters talk
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, example, buffer, dynamic_shapes=[{0: torch.export.Dim.AUTO}])
        else:
            torch.onnx.export(model, example, buffer, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = import_onnx(buffer.getvalue())
        times.append(time.perf_counter() - start)
    return {"import_and_verify_s_median": round(statistics.median(times), 3), "top_level_nodes": len(result.graph.nodes),
            "verified": result.verification.same, "max_abs_diff": result.verification.max_abs_diff}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--width", type=int, default=64, help="channels of the first stage (torchvision: 64)")
    args = parse_args(parser, {"repeat": 1, "size": 32, "width": 8})
    model = resnet50(width=args.width).eval()
    example = example_inputs([(3, args.size, args.size)], ["float"])
    times, verify_times = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = import_module(model, example, verify=False)
        mapped = time.perf_counter()
        check = import_module(model, example).verification
        times.append(mapped - start)
        verify_times.append(time.perf_counter() - mapped)
    print(json.dumps({
        "quick": args.quick, "model": "resnet50", "width": args.width, "parameters": result.param_count, "blocks": result.counts()["blocks"],
        "input": [3, args.size, args.size], "import_s_median": round(statistics.median(times), 3),
        "import_and_verify_s_median": round(statistics.median(verify_times), 3), "target_s": TARGET_S,
        "verified": bool(check and check.same), "max_abs_diff": check.max_abs_diff if check else None,
        "onnx": {"resnet50": _onnx_times(model, example, args.repeat),
                 "resnet50_default_exporter": _onnx_times(model, example, args.repeat, dynamo=True),
                 "gpt": _onnx_times(GPT().eval(), example_inputs([(16,)], ["long"], high=64), args.repeat)},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},  # a shared machine slows every figure
    }, indent=2))


if __name__ == "__main__":
    main()
