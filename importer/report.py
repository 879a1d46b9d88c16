"""What an import produced and found: plain values, no torch, so the CLI and the app can show them cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.graph import Graph


@dataclass(frozen=True)
class Problem:
    """Something in the user's model that the design can't be faithful to: what, where, what to do."""

    op: str  # the operation or module, e.g. "torch.roll" or "LSTM 'rnn'"
    where: str  # "model.py:42", or an ONNX node name
    message: str  # one sentence naming op and where, with what to do

    def __str__(self) -> str:
        return self.message


class ImportFailure(Exception):
    """The model can't be imported at all (it can't be traced or read); every field is for the user."""

    def __init__(self, what: str, where: str, detail: str, todo: str) -> None:
        self.what, self.where, self.detail, self.todo = what, where, detail, todo
        at = f" at {where}" if where else ""
        super().__init__(f"{what}{at}: {detail}; {todo}")


@dataclass(frozen=True)
class Verification:
    """The rebuilt design against the original, on a fresh random batch of another size."""

    ran: bool  # False when the design has errors (Unsupported nodes) and can't be rebuilt
    same: bool
    max_abs_diff: float | None
    batch_size: int
    note: str  # "verified — same outputs (max diff 0)", or what differs / why it couldn't run
    # The original's own state dict loads strictly into the generated code by its own key names (None: no original
    # module to ask, as for an ONNX file). False means the outputs were compared with the weights renamed to fit.
    by_name: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ran": self.ran, "same": self.same, "max_abs_diff": self.max_abs_diff,
                "batch_size": self.batch_size, "note": self.note, "by_name": self.by_name}


@dataclass
class ImportResult:
    graph: Graph
    problems: list[Problem] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # design node id -> module path whose weights it holds
    source: str = ""  # "torch.fx" or "onnx"
    param_count: int = 0  # the original's parameters
    renames: dict[str, dict[str, str]] = field(default_factory=dict)  # node id -> {its key: the original's key}
    verification: Verification | None = None
    state: dict[str, Any] | None = None  # ONNX and torch.export: the weights by the design's keys
    note: str = ""  # how it was read, when not the usual way (torch.export standing in for torch.fx)
    notes: list[str] = field(default_factory=list)  # choices the user should know of (copies of a class split apart)

    @property
    def definitions(self) -> int:
        return len(self.graph.definitions)

    def counts(self) -> dict[str, int]:
        """Nodes on the canvas (a repeated block is one), layers once blocks are expanded, definitions, …"""
        from builder.blocks import expand  # networkx; only when counting

        flat = expand(self.graph).flat
        return {"nodes": len([n for n in self.graph.nodes if n.type != "Input"]),
                "blocks": len([n for n in flat.nodes if n.type not in ("Input", "Unsupported")]),
                "definitions": self.definitions,
                "unsupported": len([n for n in flat.nodes if n.type == "Unsupported"]),
                "parameters": self.param_count}

    def to_dict(self) -> dict[str, Any]:
        return {**self.counts(), "source": self.source, "problems": [p.message for p in self.problems],
                "notes": list(self.notes),
                "verification": self.verification.to_dict() if self.verification else None}

    def report_lines(self) -> list[str]:
        """The import report the CLI prints and the app shows."""
        c = self.counts()
        lines = [f"imported from {self.source}: {c['blocks']} blocks, {c['definitions']} block definitions "
                 f"({c['nodes']} nodes on the canvas), {c['unsupported']} unsupported, {c['parameters']:,} parameters"]
        lines += [f"  {self.note}"] if self.note else []
        lines += [f"  problem: {p.message}" for p in self.problems]
        lines += [f"  note: {note}" for note in self.notes]
        if self.verification:
            lines.append(self.verification.note)
        return lines


def unique_id(text: str, taken: set[str], max_len: int) -> str:
    """A node id not in ``taken`` (which it joins): ``text`` cut to ``max_len``, then ``text_1``, ``text_2``…"""
    base = text[:max_len] or "node"
    node_id, k = base, 1
    while node_id in taken:
        node_id = f"{base}_{k}"
        k += 1
    taken.add(node_id)
    return node_id
