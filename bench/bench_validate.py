"""Benchmark: median warm ``validate()`` time for realistic 100- and 500-node graphs, printed as JSON.

A third graph of 300 nodes is written in tensor ops (attention from one qkv Linear chunked into q, k and v, then
matmul/softmax; a class token Parameter, arange positions, SE gates), whose shapes come from torch on meta tensors
through codegen's cached oracle.

The graphs mix what people draw: an image branch of residual conv blocks (Conv2d → BatchNorm2d → ReLU →
Conv2d → BatchNorm2d → Add → ReLU) with pooling, a sequence branch (Embedding → PositionalEncoding → LSTM →
self-attention → residual Add → LayerNorm → pooling), a Concat, and a Linear/ReLU head filled up to the size.

Usage: python bench/bench_validate.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import codegen  # noqa: E402,F401  (the tensor ops' shape oracle)
from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.block_edits import add_block  # noqa: E402
from builder.graph import Edge, Graph, Node  # noqa: E402
from builder.validate import validate  # noqa: E402

TARGETS_MS = {100: 5.0, 500: 25.0}
BLOCKS_TARGET_MS = 10.0  # a design of 300 leaf layers inside blocks made of blocks
OPS_TARGET_MS = 10.0  # a design of 300 nodes written with tensor-op blocks


class _Builder:
    """Appends nodes and edges; ``add`` returns the new id so chains read top to bottom."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []

    def add(self, type_name: str, *sources: str | tuple[str, str], ports: tuple[str | None, ...] = (),
            **params: object) -> str:
        """A source is a node id, or (node id, output) for one output of a block with several (a chunk)."""
        node_id = f"{type_name.lower()}_{len(self.nodes)}"
        self.nodes.append(Node(node_id, type_name, params, pos=(len(self.nodes) * 10.0, 0.0)))
        for k, source in enumerate(sources):
            source, output = source if isinstance(source, tuple) else (source, None)
            self.edges.append(Edge(source, node_id, ports[k] if k < len(ports) else None, source_port=output))
        return node_id


def _residual_block(b: _Builder, x: str, channels: int) -> str:
    h = b.add("Conv2d", x, out_channels=channels, kernel_size=3, padding=1)
    h = b.add("BatchNorm2d", h)
    h = b.add("ReLU", h)
    h = b.add("Conv2d", h, out_channels=channels, kernel_size=3, padding=1)
    h = b.add("BatchNorm2d", h)
    h = b.add("Add", h, x, ports=("1", "2"))
    return b.add("ReLU", h)


def _sequence_branch(b: _Builder) -> str:
    tokens = b.add("Input", shape=[20], dtype="long")
    h = b.add("Embedding", tokens, num_embeddings=1000, embedding_dim=32)
    h = b.add("PositionalEncoding", h)
    h = b.add("LSTM", h, hidden_size=32)
    attn = b.add("MultiheadAttention", h, num_heads=4)
    h = b.add("Add", h, attn)
    h = b.add("LayerNorm", h)
    h = b.add("SequencePool", h)
    return b.add("Linear", h, out_features=32)


def realistic_graph(size: int) -> Graph:
    """A valid graph of exactly ``size`` nodes (size ≥ 40)."""
    b = _Builder()
    image = b.add("Input", shape=[3, 32, 32])
    x = b.add("Conv2d", image, out_channels=16, kernel_size=3, padding=1)
    side = 32
    blocks = max(1, (size - 40) // 9)
    for k in range(blocks):
        x = _residual_block(b, x, 16)
        if k % 3 == 2 and side > 4:
            x = b.add("MaxPool2d", x, kernel_size=2)
            side //= 2
    x = b.add("AdaptiveAvgPool2d", x, output_size=1)
    x = b.add("Flatten", x)
    seq = _sequence_branch(b)
    h = b.add("Concat", x, seq)
    while len(b.nodes) < size - 1:
        h = b.add("Linear", h, out_features=64) if len(b.nodes) % 2 else b.add("ReLU", h)
    b.add("Linear", h, out_features=10)
    return Graph(name=f"bench_{size}", nodes=tuple(b.nodes), edges=tuple(b.edges))


def blocks_graph(leaves: int = 300) -> Graph:
    """A deep ResNet drawn with the library's BasicBlock: four stages of repeated blocks, ≥ ``leaves`` layers."""
    graph = Graph("bench_blocks", (Node("x", "Input", {"shape": [3, 32, 32]}),))
    graph, _ = add_block(graph, "BasicBlock")
    graph = graph.with_nodes(graph.nodes[:1])  # keep the definitions, place the stages below
    nodes = [*graph.nodes, Node("stem", "Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}),
             Node("bn", "BatchNorm2d"), Node("relu", "ReLU")]
    per_stage = max(1, (leaves - 10) // 28 + 1)  # 7 layers per block, 4 stages
    for k, width in enumerate((16, 32, 64, 128)):
        params = {"planes": width} if k == 0 else {"planes": width, "stride": 2, "downsample": True}
        nodes.append(Node(f"layer{k + 1}", "BasicBlock", params, repeat=per_stage))
    nodes += [Node("pool", "AdaptiveAvgPool2d", {"output_size": 1}), Node("flat", "Flatten"),
              Node("fc", "Linear", {"out_features": 10})]
    ids = [n.id for n in nodes]
    return graph.with_nodes(nodes).with_edges([Edge(a, b) for a, b in zip(ids, ids[1:])])


def _op_attention(b: _Builder, x: str) -> str:
    """A Transformer layer in ops: q, k, v = qkv(x).chunk(3, dim=-1) (minGPT), scores q @ kᵀ / √d, softmax, @ v,
    residual, a gate, layer norm."""
    qkv = b.add("Linear", x, out_features=96)
    qkv = b.add("chunk", qkv, chunks=3, dim=-1)
    q, k, v = ((qkv, str(piece)) for piece in range(3))
    kt = b.add("transpose", k, dim0=1, dim1=2)
    scores = b.add("matmul", q, kt, ports=("x", "y"))
    scores = b.add("scalar", scores, operator="/", value=32 ** 0.5)
    weights = b.add("softmax", scores, dim=-1)
    h = b.add("matmul", weights, v, ports=("x", "y"))
    h = b.add("add", x, h, ports=("x", "y"))
    gate = b.add("mean", h, dim=[1], keepdim=True)
    gate = b.add("Sigmoid", gate)
    h = b.add("mul", h, gate, ports=("x", "y"))
    return b.add("layer_norm", h)


def ops_graph(size: int = 300) -> Graph:
    """A ViT/GPT-like design of exactly ``size`` nodes written in tensor ops."""
    b = _Builder()
    x = b.add("Input", shape=[16, 32])
    cls = b.add("Parameter", shape=[1, 1, 32])
    cls = b.add("expand", cls, x, ports=("x", "like"), sizes=[-1, -1])
    x = b.add("Concat", cls, x, ports=("1", "2"))
    positions = b.add("arange", x, dim=1)
    wpe = b.add("Embedding", positions, num_embeddings=17, embedding_dim=32)
    x = b.add("add", x, wpe, ports=("x", "y"))
    while len(b.nodes) < size - 14:
        x = _op_attention(b, x)
    while len(b.nodes) < size - 2:
        x = b.add("scalar", x, operator="*", value=0.5)
    x = b.add("index", x, index=":, 0")
    b.add("Linear", x, out_features=10)
    return Graph(name=f"bench_ops_{size}", nodes=tuple(b.nodes), edges=tuple(b.edges))


def median_ms(graph: Graph, repeat: int) -> tuple[float, float]:
    """Median and best wall time of ``validate(graph)`` in ms, after warm-up runs."""
    for _ in range(3):
        validate(graph)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        validate(graph)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parse_args(parser, {"repeat": 1})
    results = []
    for size, target in TARGETS_MS.items():
        graph = realistic_graph(size)
        result = validate(graph)
        assert result.valid and len(graph.nodes) == size, [i.message for i in result.issues]
        median, best = median_ms(graph, args.repeat)
        results.append({"nodes": size, "edges": len(graph.edges), "median_ms": round(median, 3),
                        "best_ms": round(best, 3), "target_ms": target, "meets_target": median <= target})
    graph = blocks_graph()
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    median, best = median_ms(graph, args.repeat)
    results.append({"leaf_layers_in_blocks": len(result.leaves.nodes), "top_level_nodes": len(graph.nodes),
                    "median_ms": round(median, 3), "best_ms": round(best, 3), "target_ms": BLOCKS_TARGET_MS,
                    "meets_target": median <= BLOCKS_TARGET_MS})
    graph = ops_graph()
    result = validate(graph)
    assert result.valid and len(graph.nodes) == 300, [i.message for i in result.issues]
    median, best = median_ms(graph, args.repeat)
    layers_median, _ = median_ms(realistic_graph(300), args.repeat)  # the same size in layers, at the same load
    results.append({"tensor_op_design_nodes": len(graph.nodes),
                    "op_blocks": sum(n.type[0].islower() for n in graph.nodes), "median_ms": round(median, 3),
                    "best_ms": round(best, 3), "layer_design_300_median_ms": round(layers_median, 3),
                    "target_ms": OPS_TARGET_MS, "meets_target": median <= OPS_TARGET_MS})
    # The load average says how busy the machine was: medians on a shared 2-core machine move with it.
    print(json.dumps({"benchmark": "validate", "quick": args.quick, "python": platform.python_version(), "cpus": os.cpu_count(),
                      "load_average": [round(x, 2) for x in os.getloadavg()], "repeat": args.repeat,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
