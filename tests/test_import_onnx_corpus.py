"""Ratchet (issue 20): how many import-corpus models come through each ONNX exporter as written (the default dynamo
exporter, weights beside the file, and dynamo=False), measured by bench/bench_import_onnx.py. The counts may only go
up: when a fix lets another model through, raise its pin here. Every model that doesn't come through says why in
words naming the op."""

from __future__ import annotations

import pytest

from tests.import_corpus.onnx_as_written import MODELS, outcome

# exporter -> models of the 19 that come through, as measured on 2026-12-07 (bench/bench_import_onnx.py); tcn's
# x[:, :, :-p] and odd_attention's split come through since Slice and Split read as the index and split blocks.
PINNED = {"dynamo": 19, "torchscript": 19}
KNOWN_FAILING: dict[str, dict[str, str]] = {"dynamo": {}, "torchscript": {}}


@pytest.mark.slow  # 19 models exported and imported twice: about a minute
@pytest.mark.parametrize("exporter", list(PINNED))
def test_the_corpus_through_each_exporter_as_written_never_falls_back(exporter):
    outcomes = {name: outcome(name, exporter) for name in MODELS}
    through = sum(o["through"] for o in outcomes.values())
    failing = {name: o["why"] for name, o in outcomes.items() if not o["through"]}
    assert through >= PINNED[exporter], failing
    assert through == PINNED[exporter], f"{through} of {len(MODELS)} come through now: raise the pin to {through}"
    assert set(failing) == set(KNOWN_FAILING[exporter]), failing
    for name, words in KNOWN_FAILING[exporter].items():
        assert words in failing[name] and "no block" in failing[name], failing[name]
