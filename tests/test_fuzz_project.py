"""Fuzzing the reader and the validator: whatever arrives, the answer is a ProjectError or a ValidationResult.

Three generators: arbitrary JSON, templates with random mutations (any JSON value anywhere), and random
graphs of catalog blocks with *legal* parameter values, which get past the reader and stress every shape rule.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder import schema_gen
from builder.catalog import all_blocks
from builder.params import Kind, Param
from builder.project import FORMAT_VERSION, ProjectError, dump_project, load_project
from builder.templates import load_template, template_names
from builder.validate import ValidationResult, validate

BLOCKS = {b.type: b for b in all_blocks()}
BLOCK_TYPES = sorted(BLOCKS)
TEMPLATES = {name: dump_project(load_template(name)) for name in template_names()}
SCALE = float(os.environ.get("LAYERLAB_FUZZ_SCALE", "1"))  # raise it for a long hunt: LAYERLAB_FUZZ_SCALE=20


def fuzz(examples: int) -> settings:
    """Fixed seed (the same cases in CI every time), a per-case deadline that catches hangs."""
    return settings(max_examples=int(examples * SCALE), deadline=2000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
names = st.sampled_from(["x", "fc", "conv", "a", "b", "", "é", "x" * 70]) | st.text(string.ascii_letters, min_size=1, max_size=6)


def check(source: Any) -> None:
    """The contract: a ProjectError with at least one line, or a graph that validates without raising."""
    try:
        graph = load_project(source)
    except ProjectError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        return
    assert isinstance(validate(graph), ValidationResult)


@fuzz(600)
@given(json_values)
def test_arbitrary_json_values(value):
    check(value)
    check(json.dumps(value))


@fuzz(300)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_and_text(raw):
    check(raw)


@st.composite
def mutated_template(draw) -> dict:
    data = json.loads(json.dumps(TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))]))
    for _ in range(draw(st.integers(1, 4))):
        draw(st.sampled_from(MUTATIONS))(draw, data)
    if not draw(st.integers(0, 3)):  # last, as it may break the structure the other mutations walk
        _set_anything(draw, data)
    return data


def _node(draw, data) -> dict:
    return draw(st.sampled_from(data["nodes"])) if data["nodes"] else {}


def _set_param(draw, data) -> None:
    """Mostly a legal value for one of the block's parameters (so validation runs), sometimes any JSON."""
    node = _node(draw, data)
    params = node.setdefault("params", {})
    block = BLOCKS.get(node.get("type"))
    if block and block.params and draw(st.integers(0, 3)):
        spec = draw(st.sampled_from(block.params))
        value = draw(legal_value(spec))
        if value is None:
            params.pop(spec.name, None)
        else:
            params[spec.name] = value
    elif not block or draw(st.integers(0, 3)) == 0:
        params[draw(st.sampled_from([*params, "kernel_size", "shape", "num_heads", "dim", "out_features"]))] = draw(json_values)


def _set_type(draw, data) -> None:
    node = _node(draw, data)
    node["type"] = draw(st.sampled_from(BLOCK_TYPES) | st.text(max_size=6))
    node.pop("params", None)  # the old block's parameters would mostly be refused


def _add_edge(draw, data) -> None:
    ids = [n["id"] for n in data["nodes"]] or ["x"]
    known = st.sampled_from(ids)
    edge = {"source": draw(known if draw(st.integers(0, 4)) else names),
            "target": draw(known if draw(st.integers(0, 4)) else names)}
    if draw(st.booleans()):
        edge["port"] = draw(st.sampled_from(["1", "2", "3", "x", "memory", "tgt", "state", "0"]) | json_values)
    data["edges"].append(edge)


def _drop(draw, data) -> None:
    """Remove an edge, or a node with (mostly) its edges, as the canvas does."""
    key = draw(st.sampled_from(["nodes", "edges"]))
    if not data[key]:
        return
    gone = data[key].pop(draw(st.integers(0, len(data[key]) - 1)))
    if key == "nodes" and draw(st.integers(0, 4)):
        data["edges"] = [e for e in data["edges"] if gone.get("id") not in (e.get("source"), e.get("target"))]


def _set_anything(draw, data) -> None:
    target = draw(st.sampled_from(["top", "node", "edge"]))
    holder = data if target == "top" else _node(draw, data) if target == "node" else (data["edges"] or [{}])[0]
    holder[draw(st.sampled_from(["layerlab", "id", "type", "params", "pos", "meta", "nodes", "edges", "port", "zzz"]))] = (
        draw(json_values))


MUTATIONS = [_set_param, _set_param, _set_type, _add_edge, _drop]


@fuzz(800)
@given(mutated_template())
def test_mutated_templates(data):
    check(data)


def legal_value(param: Param) -> st.SearchStrategy:
    """Values the reader accepts, biased to the edges of the range where shape rules break."""
    lo = int(param.minimum) if param.minimum is not None else -4
    hi = int(min(param.maximum, 70)) if param.maximum is not None else 70
    ints = st.integers(lo, max(lo, hi)) | st.sampled_from([v for v in (lo, lo + 1, hi) if lo <= v])
    by_kind = {
        Kind.INT: ints,
        Kind.FLOAT: st.floats(param.minimum if param.minimum is not None else -10,
                              param.maximum if param.maximum is not None else 10),
        Kind.BOOL: st.booleans(),
        Kind.CHOICE: st.sampled_from(param.choices or (param.default,)),
        Kind.INTS: st.lists(ints, min_size=max(param.min_len, 1), max_size=min(param.max_len, 4)),
        Kind.INT_OR_TUPLE: ints | st.lists(ints, min_size=1, max_size=3),
        Kind.TEXT: st.text(max_size=20),
        Kind.FLOATS: st.lists(st.floats(-10, 10), max_size=min(param.max_len, 4)),
    }
    value = by_kind[param.kind]
    return (st.none() | value) if (param.inferred or param.optional) else value


@st.composite
def random_design(draw) -> dict:
    """A chain or small DAG of random blocks with legal parameters, fed by one or two Inputs."""
    shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=4))
    nodes = [{"id": "in0", "type": "Input", "params": {"shape": shape, "dtype": draw(st.sampled_from(["float", "long"]))}}]
    edges = []
    for k in range(1, draw(st.integers(1, 7)) + 1):
        block = draw(st.sampled_from([b for b in all_blocks() if b.type != "Input"]))
        params = {p.name: draw(legal_value(p)) for p in block.params if draw(st.booleans())}
        nodes.append({"id": f"n{k}", "type": block.type, "params": {n: v for n, v in params.items() if v is not None}})
        wired = 0 if block.is_source else 2 if block.ports[0].variadic or len(block.ports) > 1 else 1  # Parameter: 0
        for _ in range(wired):
            edge = {"source": nodes[draw(st.integers(0, k - 1))]["id"], "target": f"n{k}"}
            edges.append(edge)
    # A fresh edge list without duplicates, as the reader refuses those.
    unique = [json.loads(e) for e in dict.fromkeys(json.dumps(e, sort_keys=True) for e in edges)]
    return {"layerlab": FORMAT_VERSION, "name": "fuzz", "nodes": nodes, "edges": unique}


@fuzz(800)
@given(random_design())
def test_random_designs_with_legal_parameters(data):
    check(data)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_survive_the_same_check(name):
    check(TEMPLATES[name])


SCHEMA = jsonschema.Draft202012Validator(json.loads(schema_gen.SCHEMA_PATH.read_text(encoding="utf-8")))


@fuzz(300)
@given(mutated_template() | random_design())
def test_the_schema_accepts_whatever_the_reader_accepts(data):
    """The schema may be looser than the reader (it can't see ids), never stricter."""
    try:
        load_project(data)
    except ProjectError:
        return
    errors = [e.message for e in SCHEMA.iter_errors(json.loads(json.dumps(data)))]
    assert errors == []
