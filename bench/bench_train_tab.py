"""Benchmark: what the Train tab's kept state and the Code tab's trained-weights downloads cost. JSON out.

- ``train_tab_rerun_ms``: a rerun of the Train panel (xor_mlp, every setting drawn and kept) in Streamlit's
  AppTest, median; an upper bound of the server time (AppTest adds its own overhead). Target: under 300 ms.
- ``weights_check_ms``: the check the Code tab makes once per (run, design) before labelling the downloads
  "trained: run N …": read the run, its weights and its design, regenerate both models, compare. Target: 200 ms.
- ``onnx_ms`` / ``onnx_label_ms``: digits_cnn's ONNX export, and the part of it that writes the weights label
  into the file's metadata.

Usage: python bench/bench_train_tab.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAYERLAB_DATA_DIR", tempfile.mkdtemp(prefix="layerlab_bench_"))

import torch  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.templates import load_template  # noqa: E402
from codegen.loader import build_model  # noqa: E402
from export.files import _onnx_model, _with_onnx_label, model_source, onnx_bytes  # noqa: E402

SCRIPT = """
from builder.templates import load_template
from builder.validate import validate
from ui.train.train_panel import render_train_panel

graph = load_template("xor_mlp")
render_train_panel(graph, validate(graph))
"""


def _median_ms(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 2)


def train_tab_rerun_ms(repeat: int) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not at.exception, at.exception
    return _median_ms(at.run, repeat)


def weights_check_ms(repeat: int) -> float:
    from data.datasets import load_dataset
    from training.engine import TrainConfig, train
    from training.runstore import RunStore

    store = RunStore(Path(tempfile.mkdtemp(prefix="layerlab_bench_runs_")) / "runs.sqlite")
    graph = load_template("digits_cnn")
    config = TrainConfig.from_dict({**graph.meta["training"], "epochs": 1, "threads": 1})
    run_id = train(graph, load_dataset("digits", seed=0), config, store=store).run_id
    return _median_ms(lambda: store.trained_weights(run_id, graph), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parse_args(parser, {"repeat": 1})
    torch.set_num_threads(1)
    source = model_source(load_template("digits_cnn"))
    module = build_model(source, seed=0).eval()
    plain = _onnx_model(module, source, 17)
    figures = {
        "train_tab_rerun_ms": train_tab_rerun_ms(args.repeat),
        "weights_check_ms": weights_check_ms(args.repeat),
        "onnx_ms": _median_ms(lambda: onnx_bytes(module, source, label="trained: run 1"), args.repeat),
        "onnx_label_ms": _median_ms(lambda: _with_onnx_label(plain, "trained: run 1"), args.repeat),
    }
    print(json.dumps({"benchmark": "train_tab", "quick": args.quick, **figures, "targets_ms": {"train_tab_rerun_ms": 300,
                      "weights_check_ms": 200}, "repeat": args.repeat, "python": platform.python_version(),
                      "torch": torch.__version__, "cpus": os.cpu_count(),
                      "load_average": [round(v, 2) for v in os.getloadavg()]}, indent=2))


if __name__ == "__main__":
    main()
