"""A block with several outputs in the app (Streamlit's AppTest): the canvas gets one handle per output, a connect
from a handle reads that output, and the inspector shows and changes which output an edge reads."""

from __future__ import annotations

from test_app import canvas_args, graph, send, start

from builder.graph import Edge, Graph, Node
from builder.share import encode_share


def design() -> Graph:
    return Graph("lstm_state", (Node("x", "Input", {"shape": [7, 5]}), Node("lstm", "LSTM", {"hidden_size": 16}),
                                Node("fc", "Linear", {"out_features": 3})), (Edge("x", "lstm"),))


def test_connect_from_a_handle_then_switch_the_output_in_the_inspector() -> None:
    at = start({"design": encode_share(design())})
    lstm = next(n for n in canvas_args(at)["nodes"] if n["id"] == "lstm")
    assert [o["id"] for o in lstm["outs"]] == ["output", "h", "c"]
    send(at, "connect", source="lstm", target="fc", sourcePort="h")
    assert graph(at).edges[-1] == Edge("lstm", "fc", source_port="h")
    assert any(e["id"] == "e:lstm.h->fc" and e["label"] == "h · 16" for e in canvas_args(at)["edges"])
    send(at, "select", node="fc")
    reads = at.selectbox(key="reads_fc_lstm_h")
    assert reads.value == "h" and list(reads.options) == ["output", "h", "c"]
    reads.set_value("c").run()
    assert not at.exception, at.exception
    assert graph(at).edges[-1] == Edge("lstm", "fc", source_port="c")
    at.button(key="cut_fc_lstm_c").click().run()
    assert graph(at).edges == (Edge("x", "lstm"),)
