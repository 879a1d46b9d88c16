"""Corpus models exported to ONNX as a user writes it and imported from the file: where that stops, the reason is
LayerLab's sentence with what to do — torch's exporter refusing a model included, never its raw exception text."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "import_corpus_public"))

from corpus import ENTRIES  # noqa: E402
from corpus_outcome import import_entry_onnx  # noqa: E402


def _run(name: str, exporter: str) -> dict:
    entry = next(e for e in ENTRIES if e.name == name)
    with contextlib.redirect_stdout(io.StringIO()):
        return import_entry_onnx(entry, exporter)


def test_an_export_torch_refuses_is_said_in_words_with_the_other_ways_in():
    # AlexNet's AdaptiveAvgPool2d((6, 6)) on a 64 x 64 image: the TorchScript exporter has no ONNX form for it.
    out = _run("torchvision alexnet", "torchscript")
    assert out["status"] == "export failed", out
    reason = out["reason"]
    assert reason.startswith("torch's ONNX export refused the model with the TorchScript exporter (dynamo=False): "
                             "it has no ONNX form for the operator adaptive_avg_pool2d"), reason
    assert "export with the default exporter (dynamo=True), or import the PyTorch file itself" in reason
    assert "SymbolicValueError" not in reason and "Please feel free" not in reason and "http" not in reason


def test_a_missing_forward_argument_is_named():
    out = _run("examples word_language_model LSTM", "torchscript")
    assert out["status"] == "export failed", out
    assert "forward() needs the argument 'hidden'" in out["reason"] and "TypeError" not in out["reason"], out


def test_a_random_draw_says_why_it_is_not_checked_and_what_to_do_whole():
    out = _run("examples vae VAE", "dynamo")  # the default exporter records the source line
    assert out["status"] == "imported", out
    first = out["first"]
    assert first.startswith("ONNX RandomNormalLike at model.py:"), first
    assert "onnxruntime, whose random draw LayerLab can't repeat" in first and first.endswith(
        "import the PyTorch module (layerlab import model.py:Class), which is verified with one seed for both"), first
    assert "planned" not in first
