"""Hostile designs never become code: every piece of user text is refused with a message, or reaches the
generated source only as a sanitized identifier, a repr() literal of a checked value, or comment text."""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import tokenize
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from builder.project import ProjectError, load_project
from codegen.loader import import_source
from codegen.naming import Namespace, comment_text, to_class_name, to_identifier
from codegen.safety import UnsafeSourceError, check_source
from codegen.source import CodegenError, generate_model
from export.files import ExportError, export_bytes

MARK = "Z-Q"  # starts every generated hostile string; no sanitized name keeps the "-", so raw leaks are visible
NASTY = [
    "x'); __import__('os').system('echo pwned') #", '"""', "'''", "\n", "a\nimport os", "__import__('os')",
    "__class__", "__init__", "self", "torch", "nn", "class", "None", "1abc", "é漢字🙂", "\x00\x1b[31m", "\u2028",
    "\\", "{out}", "{mod}", "${x}", "forward", "train", "INPUT_SHAPES", "model", "main", "eval", "exec",
    "lambda: 0", "#", "\r\nprint(1)", " " * 5, "𝕏", "ℌ", "\u202e", "x" * 64,
]
# Fragments that no sanitized identifier or checked literal can contain (identifiers lose the brackets and spaces).
DANGEROUS = ["__import__", "system(", "import os", "print(1)", "('os')", "lambda:", "\x00", "\u202e", "\u2028"]

texts = st.one_of(st.sampled_from(NASTY), st.text(min_size=0, max_size=30).map(lambda t: MARK + t))
values = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([1, 3, 8, 64, 10**9, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(), texts,
    st.lists(st.integers(min_value=-5, max_value=10**12), max_size=5),
)


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Valid values 4 times in 5, so most examples get through validation and their text reaches codegen."""
    return st.integers(0, 4).flatmap(lambda k: hostile if k == 0 else valid)


widths = mostly(st.sampled_from([1, 3, 8, 64]), values)
probabilities = mostly(st.sampled_from([0.0, 0.25, 0.5]), values)
flags = mostly(st.booleans(), values)
training = st.fixed_dictionaries({}, optional={
    "dataset": st.one_of(st.sampled_from(["digits", "iris", "gates", "csv"]), texts),
    "epochs": mostly(st.integers(1, 3), values), "lr": mostly(st.sampled_from([0.1, 1e-3]), values),
    "batch_size": mostly(st.integers(1, 64), values),
    "optimizer": st.one_of(st.sampled_from(["adam", "sgd"]), texts),
    "dataset_options": st.fixed_dictionaries({}, optional={"gate": texts, "noise": values, "flat": values}),
})


def _design(ids: list[str], name: Any, description: Any, width: Any, p: Any, bias: Any, meta: Any) -> dict:
    a, b, c, d, e = ids
    return {
        "layerlab": 1, "name": name, "description": description, "meta": {"training": meta},
        "nodes": [
            {"id": a, "type": "Input", "params": {"shape": [4]}},
            {"id": b, "type": "Linear", "params": {"out_features": width, "bias": bias}},
            {"id": c, "type": "ReLU"},
            {"id": d, "type": "Dropout", "params": {"p": p}},
            {"id": e, "type": "Linear", "params": {"out_features": 3}},
        ],
        "edges": [{"source": a, "target": b}, {"source": b, "target": c}, {"source": c, "target": d},
                  {"source": d, "target": e}],
    }


def _code_without_comments(code: str) -> str:
    """Every token except comments: where raw user text must never appear."""
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return "\n".join(t.string for t in tokens if t.type != tokenize.COMMENT)


def _assert_inert(code: str, gate: bool = True) -> None:
    """``gate``: the whole text passes the safety gate. A training script passes it in parts: what is generated
    from the design is gated inside ``generate_script`` (check_script); the rest is LayerLab's own source,
    carried verbatim (which imports, say, collections.abc). User text must be inert in all of it."""
    if gate:
        check_source(code)
    else:
        ast.parse(code)
    active = _code_without_comments(code)
    assert MARK not in active
    for fragment in DANGEROUS:
        assert fragment not in active, fragment
    for line in code.splitlines():
        assert line.isprintable() or line == "", repr(line)


def _refused(problems: list[str]) -> None:
    assert problems and all(isinstance(p, str) and p.strip() for p in problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(mostly(texts.filter(str.strip), texts), min_size=5, max_size=5, unique=True), name=mostly(texts, st.integers()),
       description=st.one_of(texts, st.text(max_size=300)), width=widths, p=probabilities, bias=flags,
       meta=training)
def test_hostile_designs_are_refused_or_inert(ids: list[str], name: Any, description: Any, width: Any, p: Any,
                                              bias: Any, meta: Any) -> None:
    try:
        graph = load_project(_design(ids, name, description, width, p, bias, meta))
    except ProjectError as err:
        event("refused: project")
        return _refused(err.problems)
    try:
        source = generate_model(graph)
    except CodegenError as err:
        event("refused: codegen")
        return _refused(err.problems)
    _assert_inert(source.code)
    module = import_source(source.code, "hostile")
    out = getattr(module, source.class_name)()(*module.example_inputs(2))
    assert tuple(out.shape) == (2, 3)
    try:
        script = export_bytes(graph, "script").decode()
    except ExportError as err:
        event("model built; script refused")
        return _refused(err.problems)
    event("model built; script generated")
    _assert_inert(script, gate=False)


@given(st.text(max_size=80))
def test_identifiers_are_always_safe(text: str) -> None:
    name = to_identifier(text)
    assert name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
    assert not name.startswith("__") and name not in dir(builtins)
    assert to_class_name(text).isidentifier() and to_class_name(text).isascii()


@given(st.lists(st.text(max_size=10), min_size=1, max_size=30))
def test_namespace_names_are_unique(texts_: list[str]) -> None:
    space = Namespace({"forward"})
    names = [space.create(t) for t in texts_]
    assert len(set(names)) == len(names) and "forward" not in names


@given(st.text(max_size=200))
def test_comment_text_has_no_line_breaks(text: str) -> None:
    cleaned = comment_text(text)
    assert cleaned.splitlines() in ([cleaned], [])
    check_source(f"# {cleaned}\nx = 1\n")


@pytest.mark.parametrize("code", [
    "import subprocess\n", "x = __import__('os')\n", "eval('1')\n", "y = ().__class__.__bases__\n",
    "open = 1\nexec('x')\n", "def f(:\n",
])
def test_the_gate_refuses_what_generated_code_never_contains(code: str) -> None:
    with pytest.raises(UnsafeSourceError):
        check_source(code)


def test_a_layer_attribute_keeps_a_builtin_or_script_name_but_never_a_keyword_or_module_method():
    # An imported self.main (DCGAN) must stay `main` so the original state dict loads by its keys; only what can't be
    # an attribute (a keyword, a dunder) or would shadow nn.Module's own (forward, train) is changed.
    from codegen.literals import module_attributes
    from codegen.naming import Namespace

    names = Namespace(set(module_attributes()))
    made = [names.create_attribute(text) for text in ("main", "input", "class", "__init__", "forward", "train", "main")]
    assert made == ["main", "input", "class_", "init", "forward_", "train_1", "main_"]
    assert all(name.isidentifier() and not keyword.iskeyword(name) for name in made)
