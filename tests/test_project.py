"""The project format, version 1: round trips, every rejection with its exact message, and the JSON Schema."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from builder import schema_gen
from builder.graph import Edge, Graph, Node
from builder.project import (
    MAX_FILE_BYTES,
    MAX_NODES,
    ProjectError,
    dump_project,
    load_project,
    to_json,
)
from builder.templates import TEMPLATE_DIR, load_template, template_names

SCHEMA = json.loads(schema_gen.SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def design(**top) -> dict:
    """A small valid design: Input(4) → Linear(2). Keyword arguments replace top-level keys."""
    data = {
        "layerlab": 1,
        "name": "tiny",
        "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
                  {"id": "fc", "type": "Linear", "params": {"out_features": 2}}],
        "edges": [{"source": "x", "target": "fc"}],
    }
    data.update(top)
    return data


def problems(source) -> list[str]:
    with pytest.raises(ProjectError) as caught:
        load_project(source)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def with_node(index: int, **changes) -> dict:
    data = design()
    data["nodes"][index].update(changes)
    return data


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", template_names())
def test_every_template_round_trips(name):
    raw = json.loads((TEMPLATE_DIR / f"{name}.json").read_text(encoding="utf-8"))
    graph = load_template(name)
    dumped = dump_project(graph)
    for node in raw["nodes"]:  # an empty params object carries nothing, so LayerLab doesn't write one
        if node.get("params") == {}:
            del node["params"]
    assert dumped == raw
    again = load_project(to_json(graph))
    assert again == graph
    assert load_project(to_json(graph, indent=None)) == graph


@pytest.mark.parametrize("name", template_names())
def test_every_template_matches_the_json_schema(name):
    VALIDATOR.validate(dump_project(load_template(name)))


def test_pos_and_meta_are_kept_through_load_and_save():
    data = design(meta={"training": {"epochs": 3}, "note": "x"})
    data["nodes"][1].update(pos=[120.5, -40], meta={"color": "red", "tags": [1, 2]})
    graph = load_project(json.dumps(data))
    node = graph.node("fc")
    assert node.pos == (120.5, -40.0)
    assert dict(node.meta) == {"color": "red", "tags": [1, 2]}
    dumped = dump_project(graph)
    assert dumped["nodes"][1]["pos"] == [120.5, -40.0]
    assert dumped["nodes"][1]["meta"] == {"color": "red", "tags": [1, 2]}
    assert dumped["meta"] == {"training": {"epochs": 3}, "note": "x"}
    assert "pos" not in dumped["nodes"][0] and "meta" not in dumped["nodes"][0]


def test_defaults_are_not_written_back_and_edges_keep_ports():
    graph = Graph("g", (Node("a", "Input", {"shape": [3]}), Node("b", "Input", {"shape": [3]}), Node("s", "Add")),
                  (Edge("a", "s", "2"), Edge("b", "s", "1")))
    data = dump_project(graph)
    assert data["nodes"][2] == {"id": "s", "type": "Add"}
    assert data["edges"] == [{"source": "a", "target": "s", "port": "2"}, {"source": "b", "target": "s", "port": "1"}]
    assert load_project(data) == graph


def test_reads_bytes_with_a_byte_order_mark_and_tuples_become_lists():
    graph = load_project(("\ufeff" + json.dumps(with_node(1, params={"out_features": 2}))).encode())
    assert graph.node("x").params["shape"] == [4]
    assert graph.name == "tiny"
    assert load_project(json.dumps({"layerlab": 1, "nodes": []})).name == "model"


def test_whole_float_becomes_int_and_null_inferred_size_is_accepted():
    graph = load_project(with_node(1, params={"out_features": 2.0, "in_features": None}))
    assert graph.node("fc").params["out_features"] == 2
    assert isinstance(graph.node("fc").params["out_features"], int)


# ------------------------------------------------------------------------------------------- rejections


def test_not_json_names_line_and_column():
    assert problems('{"layerlab": 1,\n "nodes": [}') == ["not valid JSON: Expecting value at line 2, column 12"]


def test_nan_and_non_utf8_and_non_object():
    assert problems('{"layerlab": 1, "nodes": [], "meta": {"a": NaN}}') == [
        "not valid JSON: NaN is not allowed in a project file"]
    assert problems(b"\xff\xfe{") == ["the file is not UTF-8 text (byte 0)"]
    assert problems("[1, 2]") == ["a project file must be a JSON object, not list"]


def test_missing_wrong_and_newer_version():
    data = design()
    del data["layerlab"]
    assert problems(data) == ['missing "layerlab": 1 (the format version) at the top level']
    assert problems(design(layerlab="1")) == ["\"layerlab\" must be the format version number 1, 2 or 3, not '1'"]
    assert problems(design(layerlab=True)) == ['"layerlab" must be the format version number 1, 2 or 3, not True']
    assert problems(design(layerlab=0)) == ['"layerlab" must be the format version number 1, 2 or 3, not 0']
    assert problems(design(layerlab=4)) == [
        "this file uses format version 4; this LayerLab reads version 3: update LayerLab"]


def test_unknown_keys_at_every_level_are_errors_with_suggestions():
    data = design(nodez=[])
    data["nodes"][1]["parms"] = {}
    data["edges"][0]["weight"] = 1
    assert problems(data) == [
        "unknown top-level key 'nodez' (did you mean 'nodes'?); the top level has layerlab, name, description, "
        "nodes, edges, meta, definitions",
        "nodes[1]: unknown key 'parms' (did you mean 'params'?); a node has id, type, params, pos, meta, repeat, when, "
        "trainable",
        "edges[0]: unknown key 'weight'; an edge has source, target, port, source_port",
    ]


def test_unknown_type_suggests_the_catalog_name():
    assert problems(with_node(1, type="Conv2D")) == [
        "nodes[1] ('fc'): unknown block type 'Conv2D' (did you mean 'Conv2d'?)"]
    assert problems(with_node(1, type="Dense")) == [
        "nodes[1] ('fc'): unknown block type 'Dense' (did you mean 'Linear'?)"]
    assert problems(with_node(1, type="Quux")) == ["nodes[1] ('fc'): unknown block type 'Quux'"]
    assert problems(with_node(1, type=7)) == ["nodes[1] ('fc'): unknown block type 7"]


def test_unknown_param_suggests_the_right_name_and_lists_the_others():
    assert problems(with_node(1, params={"out_feature": 3})) == [
        "nodes[1] ('fc'): Linear has no parameter 'out_feature' (did you mean 'out_features'?); "
        "its parameters: out_features, in_features, bias"]
    assert problems(with_node(1, type="ReLU", params={"inplace": True})) == [
        "nodes[1] ('fc'): ReLU has no parameter 'inplace'; its parameters: none"]


@pytest.mark.parametrize("params,message", [
    ({"out_features": 0}, "Linear out_features=0 is too small: it must be ≥ 1 and ≤ 1e+07"),
    ({"out_features": 10**8}, "Linear out_features=100000000 is too large: it must be ≥ 1 and ≤ 1e+07"),
    ({"out_features": "ten"}, "Linear out_features='ten' must be a whole number"),
    ({"out_features": 2.5}, "Linear out_features=2.5 must be a whole number"),
    ({"out_features": 10**400}, "Linear out_features=" + str(10**400) + " is too large: it must be ≥ 1 and ≤ 1e+07"),
    ({"bias": 1}, "Linear bias=1 must be true or false"),
])
def test_out_of_range_and_wrong_type_params(params, message):
    assert problems(with_node(1, params=params)) == [f"nodes[1] ('fc'): {message}"]


def test_param_checks_for_floats_choices_and_lists():
    drop = {"id": "d", "type": "Dropout", "params": {"p": 1.5}}
    gelu = {"id": "g", "type": "GELU", "params": {"approximate": "fast"}}
    inp = {"id": "x", "type": "Input", "params": {"shape": []}}
    huge = {"id": "h", "type": "Dropout", "params": {"p": 10**400}}
    data = design(nodes=[inp, drop, gelu, huge], edges=[])
    assert problems(data) == [
        "nodes[0] ('x'): Input shape=[] must have between 1 and 4 entries",
        "nodes[1] ('d'): Dropout p=1.5 is too large: it must be ≥ 0 and ≤ 1",
        "nodes[2] ('g'): GELU approximate='fast' is not allowed: it must be one of 'none', 'tanh'",
        "nodes[3] ('h'): Dropout p is far too large a number",
    ]


def test_duplicate_ids():
    data = design()
    data["nodes"].append({"id": "fc", "type": "ReLU"})
    assert problems(data) == ["nodes[2]: the id 'fc' is used twice; ids must be unique"]


def test_bad_ids():
    assert problems({**with_node(1, id=""), "edges": []}) == [
        "nodes[1]: the id must be non-empty text of at most 64 characters, not ''"]
    assert problems(with_node(1, id="x" * 65))[0].startswith("nodes[1]: the id must be non-empty text")


def test_edge_to_missing_node_suggests_a_close_id():
    data = design()
    data["edges"].append({"source": "fc", "target": "fcc"})
    data["edges"].append({"source": "nowhere", "target": "fc"})
    assert problems(data) == [
        "edges[1]: the target 'fcc' is not a node id (did you mean 'fc'?)",
        "edges[2]: the source 'nowhere' is not a node id",
    ]


def test_edge_to_a_node_with_a_bad_type_is_not_reported_twice():
    assert problems(with_node(1, type="Dense")) == [
        "nodes[1] ('fc'): unknown block type 'Dense' (did you mean 'Linear'?)"]


def test_duplicate_edge():
    data = design()
    data["edges"].append({"source": "x", "target": "fc"})
    assert problems(data) == ["edges[1]: the edge 'x' → 'fc' appears twice"]


@pytest.mark.parametrize("target_type,port,message", [
    ("Linear", "memory", "Linear has no port 'memory'; its ports: x"),
    ("Add", "a", "Add ports are input numbers '1', '2', …; got 'a'"),
    ("Add", 1, "Add ports are input numbers '1', '2', …; got 1"),
    ("LSTM", "hidden", "LSTM has no port 'hidden'; its ports: x, state"),
])
def test_bad_port(target_type, port, message):
    data = with_node(1, type=target_type, params={})
    data["edges"][0]["port"] = port
    assert problems(data) == [f"edges[0] ('x' → 'fc'): {message}"]


def test_too_many_nodes():
    data = design(nodes=[{"id": f"n{k}", "type": "ReLU"} for k in range(MAX_NODES + 1)], edges=[])
    assert problems(data) == ["the graph has 1001 nodes; the limit is 1000"]


def test_oversized_file_is_refused_before_parsing():
    text = " " * (MAX_FILE_BYTES + 1)
    assert problems(text) == ["the file is 5,000,001 bytes; the limit is 5,000,000"]


def test_deeply_nested_json_is_a_clear_problem():
    (line,) = problems("[" * 100_000 + "]" * 100_000)
    assert line.startswith("not valid JSON:")


def test_wrong_container_types():
    assert problems(design(nodes="x", edges=5, name=3, meta=[])) == [
        '"name" must be text, not int',
        '"meta" must be an object of at most 100,000 bytes',
        '"nodes" must be a list of nodes',
        '"edges" must be a list of edges',
    ]
    assert problems(with_node(1, pos=[1, "a"], params=[1])) == [
        "nodes[1] ('fc'): params must be an object, not list",
        "nodes[1] ('fc'): pos must be [x, y] numbers, not [1, 'a']",
    ]


def test_every_problem_is_reported_at_once():
    data = design()
    data["nodes"][1]["params"] = {"out_features": -1, "bais": True}
    data["edges"].append({"source": "x", "target": "y"})
    assert len(problems(data)) == 3


# ------------------------------------------------------------------------------------------- the schema


def test_committed_schema_and_docs_equal_the_generated_ones():
    assert schema_gen.SCHEMA_PATH.read_text(encoding="utf-8") == schema_gen.schema_text(), (
        "run: python -m builder.schema_gen")
    doc = schema_gen.DOC_PATH.read_text(encoding="utf-8")
    assert schema_gen.render_doc(doc) == doc, "run: python -m builder.schema_gen"
    assert schema_gen.stale_files() == []


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_docs_list_every_block_and_every_multi_input_port():
    from builder.catalog import all_blocks

    doc = schema_gen.DOC_PATH.read_text(encoding="utf-8")
    for block in all_blocks():
        assert f"| `{block.type}` |" in doc
        for param in block.params:
            assert f"`{param.name}`" in doc
    for word in ("**TransformerDecoderLayer**: `tgt`", "`memory`", "**LSTM**: `x`", "`state`", "**Concat**: ports"):
        assert word in doc


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(nodez=[]),
    lambda d: d["nodes"][1].update(parms={}),
    lambda d: d["edges"][0].update(weight=1),
    lambda d: d["nodes"][1].update(type="Dense"),
    lambda d: d["nodes"][1]["params"].update(out_feature=3),
    lambda d: d["nodes"][1]["params"].update(out_features=0),
    lambda d: d["nodes"][1]["params"].update(bias=1),
    lambda d: d.update(layerlab=4),
    lambda d: d["nodes"][0]["params"].update(dtype="int"),
    lambda d: d["nodes"][1].update(pos=[1, 2, 3]),
], ids=["top-key", "node-key", "edge-key", "type", "param", "range", "bool", "version", "choice", "pos"])
def test_schema_and_reader_reject_the_same_mistakes(mutate):
    data = copy.deepcopy(design())
    mutate(data)
    assert list(VALIDATOR.iter_errors(data)), "the schema accepted it"
    problems(data)


def test_schema_accepts_what_the_reader_accepts():
    data = design()
    data["nodes"][1]["params"] = {"out_features": 3, "in_features": None, "bias": False}
    data["nodes"].append({"id": "p", "type": "MaxPool2d", "params": {"kernel_size": [2, 3], "stride": None},
                          "pos": [1, 2], "meta": {"any": ["thing"]}})
    VALIDATOR.validate(data)
    load_project(data)


def test_a_small_file_limit_guards_users_files_not_the_shipped_library_or_templates(monkeypatch) -> None:
    """A classroom's LAYERLAB_MAX_FILE_BYTES is for uploads: with it below a template's size, the palette's
    library and the templates must still open (they failed to, when nothing had cached them yet)."""
    from builder.library import library_design, library_names
    from builder.settings import settings

    monkeypatch.setenv("LAYERLAB_MAX_FILE_BYTES", "2000")
    settings.cache_clear()
    library_design.cache_clear()  # read the shipped files again, under the small limit
    try:
        assert load_template("resnet_mini").definitions  # 3,767 bytes on disk
        assert all(library_design(name).definitions for name in library_names())
        with pytest.raises(ProjectError, match="the limit is 2,000"):
            load_project(json.dumps(dump_project(load_template("resnet_mini"))))
    finally:
        monkeypatch.undo()
        settings.cache_clear()
        library_design.cache_clear()
