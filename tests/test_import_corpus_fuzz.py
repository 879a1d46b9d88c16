"""Mutated copies of real-world corpus files (tests/import_corpus_public) imported as `layerlab import` would: every
outcome is a design that reads back or an ImportFailure in words — never another exception (issue 20)."""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
from pathlib import Path

import pytest

from builder.project import load_project, to_json
from importer import ImportFailure, example_inputs, import_module
from importer.source_file import construct

CORPUS = Path(__file__).resolve().parent / "import_corpus_public"
# (file, class, --args, one sample's input shape): small single-file models, so each mutation imports in a moment.
MODELS = (
    ("examples/mnist/net.py", "Net", {}, (1, 28, 28)),
    ("examples/super_resolution/model.py", "Net", {"upscale_factor": 2}, (1, 16, 16)),
    ("examples/fast_neural_style/transformer_net.py", "TransformerNet", {}, (3, 16, 16)),
)
MUTATIONS_PER_MODEL = 8


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    body = [k for k, line in enumerate(lines) if line.startswith("        ") and line.strip()]
    k = rng.choice(body)
    kind = rng.choice(("drop", "number", "swap", "duplicate"))
    if kind == "drop":
        del lines[k]
    elif kind == "duplicate":
        lines.insert(k, lines[k])
    elif kind == "number":
        numbers = list(re.finditer(r"\b\d+\b", lines[k]))
        if numbers:
            m = rng.choice(numbers)
            lines[k] = lines[k][: m.start()] + str(rng.choice((0, 1, 3, 7, 64))) + lines[k][m.end():]
    else:
        other = rng.choice(body)
        lines[k], lines[other] = lines[other], lines[k]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("file,cls,args,shape", MODELS)
def test_mutated_models_fail_in_words_or_give_a_readable_design(tmp_path, file, cls, args, shape):
    rng = random.Random(f"{file}-20")
    original = (CORPUS / file).read_text(encoding="utf-8")
    outcomes = []
    for k in range(MUTATIONS_PER_MODEL):
        path = tmp_path / f"mutant_{k}.py"
        path.write_text(_mutate(original, rng), encoding="utf-8")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                model = construct(f"{path}:{cls}", json.dumps(args))
                result = import_module(model, example_inputs([shape], ["float"]))
        except ImportFailure as err:
            assert str(err).strip(), "a failure says what failed"
            outcomes.append("failed")
            continue
        load_project(to_json(result.graph))  # raises if the importer handed back a design it can't read
        outcomes.append("imported")
    assert len(outcomes) == MUTATIONS_PER_MODEL
