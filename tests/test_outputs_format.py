"""Format version 3: edges that read one of a block's several outputs (``source_port``); versions 1 and 2 unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from builder.edits import EditError, connect, insert_before, remove_node, rename_node
from builder.graph import Edge, Graph, Node
from builder.project import ProjectError, dump_project, load_project, to_json
from builder.validate import validate
from codegen.source import generate_model

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = json.loads((ROOT / "tests" / "fixtures" / "format_v12_reference.json").read_text(encoding="utf-8"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(REFERENCE["files"]), ids=lambda n: n.split("/", 1)[-1])
def test_every_template_library_block_and_fixture_reads_writes_and_generates_as_before(name: str) -> None:
    """Every shipped file (templates, library blocks, the previous release's templates) keeps its version, writes
    the same JSON and generates byte-identical code to the release before format version 3."""
    path = ROOT / name
    recorded = REFERENCE["files"][name]
    graph = load_project(path.read_bytes())
    written = to_json(graph)
    assert json.loads(written)["layerlab"] == json.loads(path.read_text(encoding="utf-8"))["layerlab"] < 3
    assert _sha(written) == recorded["json"]
    assert load_project(written) == graph
    assert _sha(generate_model(graph).code) == recorded["code"]


def lstm_classifier(port: str | None = "h") -> Graph:
    """An LSTM over a (7, 5) sequence and a Linear on its last hidden state."""
    return Graph("lstm_last_state", (
        Node("x", "Input", {"shape": [7, 5]}),
        Node("lstm", "LSTM", {"hidden_size": 16, "num_layers": 2}),
        Node("fc", "Linear", {"out_features": 3}),
    ), (Edge("x", "lstm"), Edge("lstm", "fc", source_port=port)))


def test_version_3_is_written_only_where_an_edge_reads_a_named_output() -> None:
    graph = lstm_classifier()
    data = dump_project(graph)
    assert data["layerlab"] == 3
    assert data["edges"] == [{"source": "x", "target": "lstm"}, {"source": "lstm", "target": "fc", "source_port": "h"}]
    assert load_project(to_json(graph)) == graph
    assert dump_project(lstm_classifier(None))["layerlab"] == 1
    assert "source_port" not in to_json(lstm_classifier(None))


def test_a_missing_output_is_refused_naming_the_node_the_edge_and_the_outputs() -> None:
    data = dump_project(lstm_classifier())
    data["edges"][1]["source_port"] = "hidden"
    with pytest.raises(ProjectError) as caught:
        load_project(data)
    assert caught.value.problems == [
        "edges[1] ('lstm' → 'fc'): 'lstm' (LSTM) has no output 'hidden'; its outputs: output, h, c"]
    gru = dump_project(lstm_classifier())
    gru["nodes"][1]["type"] = "GRU"
    gru["edges"][1]["source_port"] = "c"
    with pytest.raises(ProjectError) as caught:
        load_project(gru)
    assert caught.value.problems == ["edges[1] ('lstm' → 'fc'): 'lstm' (GRU) has no output 'c'; its outputs: output, h"]


def test_source_port_on_a_block_with_one_output_or_in_an_older_version_is_refused() -> None:
    data = dump_project(lstm_classifier())
    data["nodes"].append({"id": "out", "type": "Softmax"})
    data["edges"].append({"source": "fc", "target": "out", "source_port": "h"})
    with pytest.raises(ProjectError) as caught:
        load_project(data)
    assert caught.value.problems == [
        "edges[2] ('fc' → 'out'): 'fc' (Linear) has one output, so source_port 'h' names nothing; leave source_port out"]
    old = dump_project(lstm_classifier())
    old["layerlab"] = 2
    with pytest.raises(ProjectError) as caught:
        load_project(old)
    assert caught.value.problems == ['an edge has "source_port" (it reads a named output of a block), which needs '
                                     '"layerlab": 3; this file says 2']


def test_edits_keep_the_output_an_edge_reads() -> None:
    graph = lstm_classifier()
    renamed = rename_node(graph, "lstm", "rnn")
    assert Edge("rnn", "fc", source_port="h") in renamed.edges
    inserted, new_id = insert_before(graph, "fc", "Dropout")
    assert Edge("lstm", new_id, source_port="h") in inserted.edges
    assert remove_node(inserted, new_id).edges == graph.edges
    both = connect(lstm_classifier(None), "lstm", "fc", source_port="c")  # a second edge: another output
    assert [e.source_port for e in both.edges if e.key == ("lstm", "fc")] == [None, "c"]
    # Naming the main output stores nothing: the file keeps source_port only where it says something.
    plain = Graph("g", lstm_classifier().nodes, (Edge("x", "lstm"),))
    assert connect(plain, "lstm", "fc", source_port="output").edges[-1] == Edge("lstm", "fc")
    with pytest.raises(EditError, match="‘lstm’ has no output 'z'; its outputs: output, h, c"):
        connect(plain, "lstm", "fc", source_port="z")


def test_validation_gives_each_edge_its_output_shape() -> None:
    graph = lstm_classifier()
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    lstm = result.nodes["lstm"]
    assert {k: v.shape for k, v in lstm.outputs.items()} == {"output": (7, 16), "h": (16,), "c": (16,)}
    assert lstm.output.shape == (7, 16)  # the main output
    assert result.edge_shape(graph.edges[1]).shape == (16,)
    assert result.nodes["fc"].inputs["x"].shape == (16,)
    assert result.nodes["fc"].output.shape == (3,)


def test_an_edge_naming_a_missing_output_is_an_issue_on_the_target() -> None:
    graph = lstm_classifier().with_edges([Edge("x", "lstm"), Edge("lstm", "fc", source_port="c")])
    graph = graph.replace_node(Node("lstm", "GRU", {"hidden_size": 16}))  # a GRU has no cell state
    result = validate(graph)
    (issue,) = result.errors
    assert issue.node == "fc" and issue.edge == ("lstm", "fc")
    assert issue.message == "the edge from ‘lstm’: ‘lstm’ has no output 'c'; its outputs: output, h"


def test_the_summary_lists_every_output_of_a_block_with_several() -> None:
    from builder.summary import format_summary, summarize

    summary = summarize(lstm_classifier())
    row = next(r for r in summary.rows if r.node == "lstm")
    assert row.output_shape == [-1, 7, 16] and row.outputs == {"h": [-1, 16], "c": [-1, 16]}
    assert "lstm (LSTM)   (N, 7, 16) · h (N, 16) · c (N, 16)" in format_summary(summary)


def test_the_canvas_draws_a_handle_per_output_and_connects_from_one() -> None:
    from ui.design.canvas_events import apply_event
    from ui.design.canvas_view import canvas_elements

    graph = lstm_classifier()
    nodes, edges, _ = canvas_elements(graph, validate(graph))
    # One handle per output: the main one at the centre, where the layout's routes leave a node.
    assert [n.get("outs") for n in nodes] == [
        None, [{"id": "output", "at": 50.0, "main": True}, {"id": "h", "at": 69.0}, {"id": "c", "at": 88.0}], None]
    assert edges[0]["id"] == "e:x->lstm" and "sh" not in edges[0]
    assert {k: edges[1][k] for k in ("id", "label", "sh")} == {"id": "e:lstm.h->fc", "label": "h · 16", "sh": "h"}
    assert "points" not in edges[1]  # drawn from its own handle, not along a route from the centre
    last = lstm_classifier(None).replace_node(Node("lstm", "LSTM", {"hidden_size": 16, "output": "last"}))
    nodes, edges, _ = canvas_elements(last, validate(last))
    assert nodes[1]["outs"] == [{"id": "output", "at": 12.0}, {"id": "h", "at": 50.0, "main": True},
                                {"id": "c", "at": 88.0}]
    assert edges[1]["sh"] == "h" and "points" in edges[1]  # the main output: routed like any edge
    plain = Graph("g", graph.nodes, (Edge("x", "lstm"),))
    connected = apply_event(plain, None, {"id": "1", "kind": "connect", "source": "lstm", "target": "fc",
                                          "sourcePort": "h"})
    assert connected.graph.edges == graph.edges and connected.messages == []
    main = apply_event(plain, None, {"id": "2", "kind": "connect", "source": "lstm", "target": "fc",
                                     "sourcePort": "output"})
    assert main.graph.edges[-1] == Edge("lstm", "fc")  # the main handle: an edge like any other
    refused = apply_event(plain, None, {"id": "3", "kind": "connect", "source": "lstm", "target": "fc",
                                        "sourcePort": "q"})
    assert refused.graph == plain and refused.messages == ["‘lstm’ has no output 'q'; its outputs: output, h, c"]
    # Two edges between one pair, from h and from c: deleting one on the canvas removes that one only.
    both = connect(graph, "lstm", "fc", source_port="c")
    gone = apply_event(both, None, {"id": "4", "kind": "delete", "nodes": [], "edges": ["e:lstm.c->fc"]})
    assert gone.graph == graph


def test_group_keeps_edges_from_named_outputs_inside_and_refuses_them_across_its_border() -> None:
    from builder.group_edits import group, ungroup

    graph = lstm_classifier()
    with pytest.raises(EditError, match="reads the output 'h' of ‘lstm’ and crosses the selection's border"):
        group(graph, ["lstm"], "Recurrent")
    grouped, instance = group(graph, ["lstm", "fc"], "Classifier")
    inner = grouped.definitions["Classifier"].graph
    assert Edge("lstm", "fc", source_port="h") in inner.edges
    assert json.loads(to_json(grouped))["layerlab"] == 3
    assert validate(grouped).valid
    back = ungroup(grouped, instance)
    assert back.edges == graph.edges


def test_an_edge_can_be_switched_to_another_output() -> None:
    from builder.edits import set_edge_source_port

    graph = lstm_classifier()
    to_c = set_edge_source_port(graph, graph.edges[1], "c")
    assert to_c.edges[1] == Edge("lstm", "fc", source_port="c")
    assert set_edge_source_port(to_c, to_c.edges[1], "output").edges[1] == Edge("lstm", "fc")  # main: stored as None
    with pytest.raises(EditError, match="its outputs: output, h, c"):
        set_edge_source_port(graph, graph.edges[1], "z")
