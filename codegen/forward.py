"""Write one module's ``__init__`` and ``forward`` bodies: declared layers, then one line per node.

A *scope* is what one class holds: the whole design (the model class) or one block definition (its own class).
``ScopeNode`` is a node of that scope as codegen needs it, already rendered: the constructor expression of its
layer (or None), its forward template, and the shape comment. The same writer serves both, so a block's class
reads like the model's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

from codegen.naming import Namespace


@dataclass
class ScopeNode:
    id: str
    init: str | None  # rendered constructor expression, e.g. "nn.Conv2d(3, 64, kernel_size=3)"; None for inline ops
    forward: str  # template: {out}, {mod}, one placeholder per port, {inputs} for variadic ports
    sources: dict[str, list[str]]  # port -> scope node ids (or input names) feeding it, in order
    comment: str  # the output's shape, e.g. "(N, 64, 56, 56)"
    optional: bool = False  # present only in some uses of a block: `self.x = ... if flag else None`
    flag: str = ""  # the constructor argument that decides an optional node
    repeat_loop: bool = False  # a repeated block with extra inputs: loop over a ModuleList
    buffer: str | None = None  # "persistent" | "transient": init is a tensor for register_buffer
    own_name: bool = False  # a tensor without a batch dimension (positions): never the main path's variable


@dataclass
class Body:
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # scope node id -> attribute name
    variables: dict[str, str] = field(default_factory=dict)  # scope node id -> the variable holding its value


class ForwardWriter:
    """One pass over a scope's nodes in topological order."""

    def __init__(self, nodes: list[ScopeNode], consumers: dict[str, list[str]], inputs: dict[str, str],
                 attrs: Namespace, local_names: Namespace, main_branch: str | None = None) -> None:
        self.nodes = nodes
        # Inside a block, a path that starts beside a still-needed input reads as torchvision's `out`; once that
        # branch has been merged back (x = x + out), the next one may be `out` again, as nanoGPT's Block reads.
        self.main_branch = main_branch
        self.branch_named = False  # the `out` variable exists
        self.consumers = consumers  # node id -> the scope nodes it feeds
        self.attrs = attrs
        self.locals = local_names
        self.var: dict[str, str] = dict(inputs)  # input node/port id -> argument name
        self.created: dict[str, int] = {name: k for k, name in enumerate(inputs.values())}
        self.position = {n.id: k for k, n in enumerate(nodes)}
        self.by_id = {n.id: n for n in nodes}

    def write(self) -> Body:
        body = Body()
        for node in self.nodes:
            attr = None
            if node.init is not None:
                attr = self.attrs.create(node.id, "layer")
                body.attributes[node.id] = attr
                init = f"{node.init} if {node.flag} else None" if node.optional else node.init
                if node.buffer:
                    keep = ", persistent=False" if node.buffer == "transient" else ""
                    body.init.append(f'self.register_buffer("{attr}", {init}{keep})')
                else:
                    body.init.append(f"self.{attr} = {init}")
            if node.forward == "{mod}":  # a Parameter or buffer: used in place, as self.cls_token
                self.var[node.id] = f"self.{attr}"
                continue
            lines = self._node_lines(node, attr)
            lines[-1] += f"  # {node.comment}"
            body.forward.extend(lines)
        body.variables = dict(self.var)
        return body

    def _node_lines(self, node: ScopeNode, attr: str | None) -> list[str]:
        mapping: dict[str, Any] = {"mod": f"self.{attr}" if attr else ""}
        for port, srcs in node.sources.items():
            names = [self.var[s] for s in srcs]
            mapping[port] = names if port == "inputs" else names[0]
        if node.optional:  # torchvision's `if self.downsample is not None: identity = self.downsample(x)`
            source = mapping[next(iter(node.sources))]
            out = self._new_var(node.id, "identity")
            self.var[node.id] = out
            mapping["out"] = out
            call = node.forward.format(**mapping)
            return [f"{out} = {source}", f"if self.{attr} is not None:", f"    {call}"]
        mapping["out"] = self._output_var(node)
        if node.repeat_loop:
            first, *rest = node.sources
            args = ", ".join([mapping[first], *(mapping[p] for p in rest)])
            return [f"for layer in self.{attr}:", f"    {mapping['out']} = layer({args})"]
        for _, name, _, _ in Formatter().parse(node.forward):
            base = re.match(r"\w+", name).group() if name else None
            if base and base not in mapping:
                mapping[base] = self.locals.create(base, "tmp")
        return node.forward.format(**mapping).split("\n")

    def _new_var(self, node_id: str, preferred: str) -> str:
        name = self.locals.create(preferred, "h")
        self.created[name] = len(self.created)
        return name

    def _output_var(self, node: ScopeNode) -> str:
        """Keep one variable flowing down the main path, as a person would (x = self.conv1(x)).

        A node takes over an input's variable when it is that value's last use; a merge (Add, Concat) takes
        the oldest such variable, so a residual block reads ``x = out + x`` and the trunk stays ``x``. A
        branch, or a node feeding a secondary port (an encoder's state, attention memory), is named after
        its node, so ``self.decoder(tgt, encoder)`` reads right."""
        sources = node.sources
        candidates = [s for srcs in sources.values() for s in srcs
                      if self._is_last_use(s, node.id) and self.var[s] in self.created]  # never self.cls_token
        if "inputs" not in sources:
            candidates = candidates[:1] if candidates and candidates[0] == next(iter(sources.values()))[0] else []
        if candidates and not self._feeds_secondary_port(node.id) and not node.own_name:
            name = min((self.var[c] for c in candidates), key=self.created.__getitem__)
        elif self.main_branch and not self._feeds_secondary_port(node.id) and self._branch_free(node.id) \
                and not node.own_name:
            if not self.branch_named:
                self.main_branch = self._new_var(node.id, self.main_branch)
                self.branch_named = True
            name = self.main_branch
        else:
            name = self._new_var(node.id, node.id)
        self.var[node.id] = name
        return name

    def _branch_free(self, node_id: str) -> bool:
        """The branch variable is unused so far, or every value it held has been read by all that need it."""
        if not self.branch_named:
            return True
        holders = [n for n, name in self.var.items() if name == self.main_branch]
        return all(self.position.get(c, -1) < self.position[node_id]
                   for holder in holders for c in self.consumers.get(holder, []))

    def _is_last_use(self, source: str, node_id: str) -> bool:
        return all(self.position.get(c, -1) <= self.position[node_id] for c in self.consumers.get(source, []))

    def _feeds_secondary_port(self, node_id: str) -> bool:
        for consumer in self.consumers.get(node_id, []):
            sources = self.by_id[consumer].sources if consumer in self.by_id else {}
            ports = list(sources)
            if len(ports) > 1 and node_id not in sources[ports[0]]:
                return True
        return False
