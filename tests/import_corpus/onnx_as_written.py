"""The import corpus through both ONNX exporters as a user writes the file: ``torch.onnx.export(model, args,
"model.onnx")`` (the default dynamo exporter: the batch fixed, the weights in model.onnx.data beside it) and the same
with ``dynamo=False`` (TorchScript's), nothing else set; then imported the way the CLI does, the folder given.

A model comes through when its design has no unsupported op, matches onnxruntime on the file, and passes the
project's own reader and validator. Shared by bench/bench_import_onnx.py and the ratchet test."""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

import torch

from importer import ImportFailure, example_inputs
from tests.import_corpus import differing, export_only, hand_attention
from tests.test_import import CORPUS, F32, LONG, _randomize

TOKENS = ([(6,)], [LONG])
MODELS = {name: entry for name, entry in CORPUS.items()} | {
    "inception": (differing.InceptionNet, [(3, 17, 17)], [F32]),
    "inception_7x7": (differing.InceptionNet7x7, [(16, 9, 9)], [F32]),
    "densenet": (differing.DenseNet, [(3, 8, 8)], [F32]),
    "tcn": (lambda: differing.TCN("chomp"), [(3, 40)], [F32]),
    "hand_written_gpt": (hand_attention.HandWrittenGPT, *TOKENS),
    "odd_attention": (hand_attention.OddAttentionModel, *TOKENS),
    "len_mask_gpt": (export_only.LenMaskGPT, *TOKENS),
}
EXPORTERS = {"dynamo": True, "torchscript": False}


def outcome(name: str, exporter: str) -> dict:
    """What happens to one model through one exporter: {"through": bool, "why": words where it isn't}."""
    from builder.project import load_project, to_json
    from builder.validate import validate
    from importer.onnx_external import folder_reader
    from importer.onnx_import import import_onnx

    factory, shapes, dtypes = MODELS[name]
    model = _randomize(factory())
    inputs = example_inputs(shapes, dtypes, batch=2, high=20)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.onnx"
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(model, inputs, str(path), dynamo=EXPORTERS[exporter])
        except Exception as err:  # noqa: BLE001 — the exporter's own failure: not the importer's to count
            return {"through": False, "why": f"export failed: {type(err).__name__}: {str(err)[:160]}"}
        try:
            result = import_onnx(path.read_bytes(), file_name=path.name, beside=folder_reader(folder))
        except ImportFailure as err:
            return {"through": False, "why": f"refused: {str(err)[:200]}"}
    if result.problems:
        return {"through": False, "why": "; ".join(p.message for p in result.problems[:2])[:300]}
    if not result.verification.same:
        return {"through": False, "why": result.verification.note[:300]}
    if not validate(load_project(to_json(result.graph))).valid:
        return {"through": False, "why": "the saved design does not validate"}
    return {"through": True, "why": ""}
