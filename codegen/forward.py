"""Write one module's ``__init__`` and ``forward`` bodies: declared layers, then one line per node.

A *scope* is what one class holds: the whole design (the model class) or one block definition (its own class).
``ScopeNode`` (``codegen.scope``) is a node of that scope as codegen needs it, already rendered: the constructor
expression of its layer (or None), its forward template, and the shape comment. The same writer serves both, so a
block's class reads like the model's; what differs is said where it does (``residual_branches_only``)."""

from __future__ import annotations

import re
from string import Formatter
from typing import Any

from codegen.naming import Namespace, to_identifier
from codegen.paths import PathPlacer
from codegen.scope import Body, ScopeNode, output_key


class ForwardWriter:
    """One pass over a scope's nodes in topological order."""

    def __init__(self, nodes: list[ScopeNode], consumers: dict[str, list[str]], inputs: dict[str, str],
                 attrs: Namespace, local_names: Namespace, residual_branches_only: bool = False) -> None:
        self.nodes = nodes
        # A path that starts beside a still-needed input reads as torchvision's `out`; once that branch has been
        # merged back (x = x + out), the next one may be `out` again, as nanoGPT's Block reads. In the model's
        # own forward only a residual branch (one that merges back into what it started from) is `out`: a fork
        # into heads keeps their names (mu, logvar).
        self.main_branch = "out"
        self.residual_branches_only = residual_branches_only
        self.branch_named = False  # the `out` variable exists
        self.trunk = next(iter(inputs.values()), None)  # the first argument: what the main path is called
        self.module_named: set[str] = set()  # variables named after the layer that made them (`down`, `inc`)
        self.consumers = consumers  # node id -> the scope nodes it feeds
        self.attrs = attrs
        self.locals = local_names
        self.var: dict[str, str] = dict(inputs)  # input node/port id -> argument name
        self.created: dict[str, int] = {name: k for k, name in enumerate(inputs.values())}
        self.args = set(inputs.values())  # the function's own arguments
        self.position = {n.id: k for k, n in enumerate(nodes)}
        self.by_id = {n.id: n for n in nodes}
        self.expr: dict[str, str] = {}  # value key -> how it is read where that is not its variable (h[-1])
        # Who reads which output of a node with several: value key -> consumers, and node id -> outputs read.
        self.key_consumers: dict[str, list[str]] = {}
        self.read_ports: dict[str, set[str | None]] = {}
        for node in nodes:
            for port, srcs in node.sources.items():
                for src, key in zip(srcs, self._keys(node, port)):
                    self.key_consumers.setdefault(key, []).append(node.id)
                    self.read_ports.setdefault(src, set()).add(None if key == src else key[len(src) + 1:])

    def write(self) -> Body:
        body = Body()
        placer = PathPlacer(self.nodes, self.attrs)
        for node in self.nodes:
            mod = None
            if node.init is not None:
                spot = placer.spot(node)
                if spot is not None:  # kept at the original's module path, inside containers
                    body.init.extend(spot.init)
                    body.attributes[node.id], mod = spot.path, spot.access
                else:
                    attr = self.attrs.create_attribute(node.id)
                    body.attributes[node.id], mod = attr, f"self.{attr}"
                    body.init.append(self._init_line(node, attr))
                body.access[node.id] = mod
            if node.forward == "{mod}":  # a Parameter or buffer: used in place, as self.cls_token
                self.var[node.id] = mod or ""
                continue
            lines = self._node_lines(node, mod)
            lines[-1] += f"  # {node.comment}"
            body.forward.extend(lines)
        body.variables = dict(self.var)
        body.expressions = dict(self.expr)
        return body

    @staticmethod
    def _init_line(node: ScopeNode, attr: str) -> str:
        init = f"{node.init} if {node.flag} else None" if node.optional else node.init
        if node.buffer:
            keep = ", persistent=False" if node.buffer == "transient" else ""
            return f'self.register_buffer("{attr}", {init}{keep})'
        return f"self.{attr} = {init}"

    def _keys(self, node: ScopeNode, port: str) -> list[str]:
        """The value keys a port of ``node`` reads: naming a source's main output is reading it plainly."""
        srcs = node.sources[port]
        ports = node.source_ports.get(port) or [None] * len(srcs)
        keys = []
        for src, sp in zip(srcs, ports):
            source = self.by_id.get(src)
            keys.append(output_key(src, None if source is None or sp == source.main else sp))
        return keys

    def _read(self, key: str) -> str:
        return self.expr.get(key, self.var[key])

    def _node_lines(self, node: ScopeNode, mod: str | None) -> list[str]:
        mapping: dict[str, Any] = {"mod": mod or ""}
        for port in node.sources:
            names = [self._read(k) for k in self._keys(node, port)]
            mapping[port] = names if port == "inputs" else names[0]
        if node.optional:  # torchvision's `if self.downsample is not None: identity = self.downsample(x)`
            source = mapping[next(iter(node.sources))]
            out = self._new_var(node.id, "identity")
            self.var[node.id] = out
            mapping["out"] = out
            call = node.forward.format(**mapping)
            return [f"{out} = {source}", f"if {mod} is not None:", f"    {call}"]
        if node.unpack and (node.main is None or self.read_ports.get(node.id, set()) - {None}):
            return self._unpacked_lines(node, mapping)
        mapping["out"] = self._output_var(node)
        if node.repeat_loop:
            first, *rest = node.sources
            args = ", ".join([mapping[first], *(mapping[p] for p in rest)])
            return [f"for layer in {mod}:", f"    {mapping['out']} = layer({args})"]
        for _, name, _, _ in Formatter().parse(node.forward):
            base = re.match(r"\w+", name).group() if name else None
            if base and base not in mapping:
                mapping[base] = self.locals.create(base, "tmp")
        return node.forward.format(**mapping).split("\n")

    def _unpacked_lines(self, node: ScopeNode, mapping: dict[str, Any]) -> list[str]:
        """A node whose outputs other than the main one are read: one call unpacked as a person writes it,
        ``out, (h, _) = self.lstm(x)``, with ``_`` for outputs nothing reads."""
        read = self.read_ports.get(node.id, set())
        sink = not self.consumers.get(node.id)
        names: dict[str, str] = {}
        leaves = _leaves(node.unpack)
        # the original's names, one per item it unpacked: q, k, v = x.split(…); a nested item (an LSTM's (h, c))
        # keeps its outputs' own names
        original = {item: name for item, name in zip(node.unpack, node.names) if isinstance(item, str) and name}
        for port in leaves:
            main = port == node.main
            returned = sink and port == (node.main or leaves[0])  # what the model returns of an unread node
            if not (port in read or (main and None in read) or returned):
                continue
            key = output_key(node.id, None if main or returned else port)
            kept = self._kept_name(original.get(port, ""), node.id, [])
            if kept and port not in node.reads:
                names[port] = self.var[key] = kept
            elif main and port not in node.reads:
                names[port] = self._output_var(node)  # the main value flows on as one variable would
            else:
                names[port] = self.var[key] = self._new_var(key, self._port_name(node, port, mapping))
            if port in node.reads:
                self.expr[key] = node.reads[port].format(var=names[port])
        mapping["unpack"] = _target(node.unpack, names)
        for _, name, _, _ in Formatter().parse(node.unpacked):
            base = re.match(r"\w+", name).group() if name else None
            if base and base not in mapping:
                mapping[base] = self.locals.create(base, "tmp")
        lines = node.unpacked.format(**mapping).split("\n")
        # The shape comment says what each named value holds: `# out: (N, 7, 16), h: (N, 16)`.
        shapes = [f"{self._label(output_key(node.id, None if p == node.main else p), names[p])}: {node.comments[p]}"
                  for p in _leaves(node.unpack) if p in names and p in node.comments]
        if shapes:
            node.comment = ", ".join(shapes)
        return lines

    @staticmethod
    def _port_name(node: ScopeNode, port: str, mapping: dict[str, Any]) -> str:
        """A named output's variable: its name (h, c); numbered pieces after what was split, as ShuffleNet
        writes ``x1, x2 = x.chunk(2, dim=1)``; else the node and the output (``split_out``)."""
        if port.isidentifier():
            return port
        first = mapping.get(next(iter(node.sources), ""), "")
        base = first if isinstance(first, str) and first.isidentifier() else node.id
        return f"{base}{int(port) + 1}" if port.isdigit() else f"{node.id}_{port}"

    def _label(self, key: str, name: str) -> str:
        """What a shape comment calls a value: ``h[-1]``, or ``h (last layer)`` where the expression is long."""
        read = self.expr.get(key, name)
        return read if len(read) <= 12 else f"{name} (last layer)"

    def _new_var(self, node_id: str, preferred: str) -> str:
        name = self.locals.create(preferred, "h")
        self.created[name] = len(self.created)
        return name

    def _output_var(self, node: ScopeNode) -> str:
        """Keep one variable flowing down the main path, as a person would (x = self.conv1(x)).

        A node takes over an input's variable when it is that value's last use; a merge (Add, Concat) takes
        the oldest such variable, so a residual block reads ``x = out + x`` and the trunk stays ``x``, and a join
        of values named after their nodes goes on as the main path (``_trunk_for_join``). A
        branch is ``out`` (in the model's forward only a residual one: ``_model_branch``); a node feeding a
        secondary port (an encoder's state, attention memory, U-Net's skip) is named after its node, so
        ``self.decoder(tgt, encoder)`` reads right, and so is one more head of a fork (``_another_head``)."""
        sources = node.sources
        keys = {port: self._keys(node, port) for port in sources}
        # A value read through an expression (an LSTM's h[-1]) is not handed on: its variable keeps the state;
        # nor is an attribute used in place (never self.cls_token).
        candidates = [k for ks in keys.values() for k in ks
                      if self._is_last_use(k, node.id) and k not in self.expr and self.var[k] in self.created]
        if "inputs" not in sources:
            candidates = candidates[:1] if candidates and candidates[0] == next(iter(keys.values()))[0] else []
        # a tensor made beside the batch (positions) keeps its own name: the original's names the line's result
        kept = "" if node.own_name else self._kept_name(node.names[0] if len(node.names) == 1 else "", node.id,
                                                        candidates)
        if kept:
            name = kept
        elif candidates and not self._feeds_secondary_port(node.id) and not node.own_name:
            name = min((self.var[c] for c in candidates), key=self.created.__getitem__)
            if self._joins_named_values(node, candidates):
                name = self._trunk_for_join(node, name)
            elif self._another_head(node, candidates[0]):
                name = self._named_after(node)
        elif self._feeds_secondary_port(node.id) or node.own_name:
            name = self._named_after(node)
        elif self.residual_branches_only:
            name = self._model_branch(node)
        elif self._branch_free(node.id):
            name = self._branch(node)
        else:
            name = self._named_after(node)
        self.var[node.id] = name
        return name

    def _model_branch(self, node: ScopeNode) -> str:
        """In the model's forward, a layer that starts a path from a value still needed later: a residual branch
        is ``out``; anything else (a path beside U-Net's skip ``inc``, a head, a class token) is named after its
        node."""
        keys = self._keys(node, next(iter(node.sources))) if node.sources else []
        if node.init is None or not keys or any(self.var[k].startswith("self.") for k in keys):
            return self._named_after(node)  # an operation's node is named for its value (half, eps, z)
        skips = any(self._feeds_secondary_port(k.split(":")[0]) for k in keys)  # kept for a later join, as `inc`
        if not skips and self._merges_back(node, keys) and self._branch_free(node.id):
            return self._branch(node)
        return self._named_after(node)

    def _branch(self, node: ScopeNode) -> str:
        if not self.branch_named:
            self.main_branch = self._new_var(node.id, self.main_branch)
            self.branch_named = True
        return self.main_branch

    def _named_after(self, node: ScopeNode) -> str:
        """The node's own id; where the original named the line's result but that name is still needed, an
        operation on a parameter takes the parameter's name: vit-pytorch's ``x = x + self.pos_embedding[:n]``
        reads ``pos_embedding = self.pos_embedding[:17]``, not torch.fx's ``getitem``."""
        preferred = node.id
        if node.names and node.init is None and node.sources:
            read = [self._read(k) for k in self._keys(node, next(iter(node.sources)))]
            if len(read) == 1 and read[0].startswith("self."):
                preferred = read[0].rsplit(".", 1)[-1]
        name = self._new_var(node.id, preferred)
        if node.init is not None:
            self.module_named.add(name)
        return name

    def _trunk_for_join(self, node: ScopeNode, oldest: str) -> str:
        """A join of values each named after what made them is the main path: nanoGPT's ``x = wte + wpe`` (not
        ``wte = wte + wpe``); in the model's forward also once the argument is no longer needed, as Pytorch-UNet's
        ``x = self.up1(x5, x4)`` (not ``down = self.up(down, inc)``)."""
        if not self.locals.taken("x"):
            return self._new_var(node.id, "x")
        if self.residual_branches_only and self.trunk and self._free(self.trunk, node.id):
            return self.trunk
        return oldest

    def _another_head(self, node: ScopeNode, key: str) -> bool:
        """``node`` reads a forked value for the last time, alone, after every other reader took a name of its
        own: it is one more head of that fork (``mu = self.mu(x)``, then ``logvar = self.logvar(x)``), not the
        value's continuation. Only in the model's forward, whose forks aren't a block's residual branches."""
        if not self.residual_branches_only or sum(len(s) for s in node.sources.values()) != 1:
            return False
        siblings = [c for c in self._consumers(key) if c != node.id]
        return bool(siblings) and all(self.var.get(c) in self.module_named for c in siblings)

    def _merges_back(self, node: ScopeNode, keys: list[str]) -> bool:
        """A residual branch: from ``node`` a chain of values each read once leads to a join that the input
        ``node`` reads also reaches (``x + attn(ln_1(x))``; a downsampled identity beside it). A value read
        twice on the way (a VAE's ``mu``, also an output) makes it a head, not a branch."""
        others = {c for key in keys for c in self._consumers(key)
                  if c != node.id and not self._reads_only_its_shape(c, key)}
        reached = set().union(others, *(self._downstream(c) for c in others))
        current = node.id
        for _ in range(len(self.nodes)):
            readers = set(self.consumers.get(current, ()))
            if len(readers) != 1 or next(iter(readers)) not in self.by_id:
                return False
            current = next(iter(readers))
            if sum(len(srcs) for srcs in self.by_id[current].sources.values()) > 1:
                return current in reached
        return False

    def _reads_only_its_shape(self, node_id: str, key: str) -> bool:
        """``node_id`` reads the value ``key`` only for its size or device (``cls_token.expand(x.size(0), -1, -1)``,
        ``torch.arange(idx.size(1), device=idx.device)``): no path of data leaves that value there."""
        node = self.by_id.get(node_id)
        if node is None:
            return False
        ports = [port for port in node.sources if key in self._keys(node, port)]
        for port in ports:
            for found in re.finditer(rf"\{{{re.escape(port)}(\[\d+\])?\}}", node.forward):
                after, before = node.forward[found.end():], node.forward[:found.start()]
                if not (after.startswith((".size(", ".shape", ".device", ".dtype")) or before.endswith("_like(")):
                    return False
        return bool(ports)

    def _downstream(self, node_id: str) -> set[str]:
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for nxt in self.consumers.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def _kept_name(self, wanted: str, node_id: str, candidates: list[str]) -> str:
        """The original's name for a value (``k = k.transpose(1, 2)``, ``y = attention(q, k, v)``) where it reads
        right: an input's variable of that name read here for the last time, or a name no live value holds.
        '' where it would overwrite a value still needed (``x`` in ``x = x + self.attn(self.ln_1(x))``)."""
        if not wanted.strip("_"):
            return ""
        name = to_identifier(wanted)
        if any(self.var[c] == name for c in candidates) or (name in self.created and self._free(name, node_id)):
            return name
        return "" if self.locals.taken(name) else self._new_var(node_id, name)

    def _free(self, name: str, node_id: str) -> bool:
        """No value held in ``name`` is read after ``node_id`` (it may be read by ``node_id`` itself)."""
        holders = [key for key, held in self.var.items() if held == name]
        return all(self.position.get(c, -1) <= self.position[node_id] for holder in holders
                   for c in self._consumers(holder))

    def _joins_named_values(self, node: ScopeNode, candidates: list[str]) -> bool:
        """A node that joins values all named after their nodes (none is an argument or the block's branch
        variable): its result may go on as the main path (``_trunk_for_join``)."""
        read = [k for port in node.sources for k in self._keys(node, port)]
        return (len(read) > 1
                and all(k not in self.expr and self.var[k] not in self.args and self.var[k] != self.main_branch
                        and not self.var[k].startswith("self.") for k in read))

    def _branch_free(self, node_id: str) -> bool:
        """The branch variable is unused so far, or every value it held has been read by all that need it."""
        if not self.branch_named:
            return True
        holders = [n for n, name in self.var.items() if name == self.main_branch]
        return all(self.position.get(c, -1) < self.position[node_id]
                   for holder in holders for c in self._consumers(holder))

    def _is_last_use(self, key: str, node_id: str) -> bool:
        return all(self.position.get(c, -1) <= self.position[node_id] for c in self._consumers(key))

    def _consumers(self, key: str) -> list[str]:
        """The nodes that read a value: a node's main output as the scope wires it, another output by its key."""
        return self.key_consumers.get(key, []) if key not in self.consumers else self.consumers[key]

    def _feeds_secondary_port(self, node_id: str) -> bool:
        for consumer in self.consumers.get(node_id, []):
            sources = self.by_id[consumer].sources if consumer in self.by_id else {}
            ports = list(sources)
            if len(ports) > 1 and node_id not in sources[ports[0]]:
                return True
        return False


def _leaves(unpack: tuple[Any, ...]) -> list[str]:
    return [name for item in unpack for name in (_leaves(item) if isinstance(item, tuple) else [item])]


def _target(unpack: tuple[Any, ...], names: dict[str, str]) -> str:
    """``out, (h, _)``: the names of the outputs that are read, ``_`` for the rest and for a group none of whose
    outputs is read (``out, _``)."""
    parts = []
    for item in unpack:
        if isinstance(item, tuple):
            inner = _target(item, names)
            parts.append("_" if all(p.strip() == "_" for p in inner.split(",")) else f"({inner})")
        else:
            parts.append(names.get(item, "_"))
    return ", ".join(parts)
