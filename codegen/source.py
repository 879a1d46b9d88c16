"""Emit the PyTorch module for a valid graph: declared layers, a straight-line forward with shape comments.

The source is built only from catalog templates, identifiers from ``codegen.naming`` and literals through
``repr()``; ``codegen.safety.check_source`` parses it before anyone sees or runs it.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import cache
from string import Formatter
from typing import Any

from builder.catalog import Call, get_block
from builder.graph import Graph
from builder.validate import ValidationResult, validate
from codegen.naming import Namespace, comment_text, to_class_name
from codegen.safety import check_source

INDENT = "    "
_FUNC = re.compile(r"^(nn\.)?[A-Z][A-Za-z0-9]*$")


class CodegenError(ValueError):
    """The graph can't be turned into code; ``problems`` names each node and reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ModelInput:
    name: str  # the forward() argument
    node: str  # the Input node id
    shape: tuple[int, ...]
    dtype: str  # "float" | "long"
    high: int = 2  # exclusive upper bound of random token ids for long inputs


@dataclass(frozen=True)
class ModelSource:
    code: str
    class_name: str
    inputs: tuple[ModelInput, ...]
    outputs: tuple[str, ...]  # node ids, in return order
    attributes: dict[str, str] = field(default_factory=dict)  # node id -> module attribute name


@cache
def _module_attributes() -> frozenset[str]:
    """Names nn.Module already uses (train, eval, to, ...): a layer may not shadow them."""
    from torch import nn

    return frozenset(dir(nn.Module()))


def generate_model(graph: Graph, result: ValidationResult | None = None) -> ModelSource:
    """The model module for ``graph``; raises CodegenError when the graph has errors."""
    result = result or validate(graph)
    if not result.valid:
        raise CodegenError([f"‘{i.node}’: {i.message}" if i.node else i.message for i in result.errors])
    writer = _Writer(graph, result)
    model = writer.write()
    check_source(model.code)
    return model


class _Writer:
    def __init__(self, graph: Graph, result: ValidationResult) -> None:
        self.graph = graph
        self.result = result
        self.class_name = to_class_name(graph.name)
        self.attrs = Namespace(set(_module_attributes()))
        self.locals = Namespace({self.class_name, "PositionalEncoding"})
        self.var: dict[str, str] = {}
        self.created: dict[str, int] = {}  # variable name -> creation order, to keep the oldest as the trunk
        self.position = {node_id: k for k, node_id in enumerate(result.order)}
        self.helpers: list[str] = []
        self.imports: set[str] = set()

    def write(self) -> ModelSource:
        inputs = self._inputs()
        init_lines, forward_lines, attributes = self._body()
        outputs = tuple(n.id for n in self.graph.sinks())
        code = "\n".join([
            *self._header(inputs, outputs),
            *self._helper_sources(),
            *self._class(inputs, outputs, init_lines, forward_lines),
            *self._footer(inputs, outputs),
        ])
        return ModelSource(code, self.class_name, tuple(inputs), outputs, attributes)

    def _inputs(self) -> list[ModelInput]:
        found = []
        for node in self.graph.inputs():
            name = self.locals.create(node.id, "x")
            self.var[node.id] = name
            self.created[name] = len(self.created)
            spec = self.result.nodes[node.id].output
            found.append(ModelInput(name, node.id, spec.shape, spec.dtype, self._token_bound(node.id)))
        return found

    def _token_bound(self, node_id: str) -> int:
        bounds = [self.result.nodes[e.target].params.get("num_embeddings") for e in self.graph.out_edges(node_id)]
        bounds = [b for b in bounds if b]
        return min(bounds) if bounds else 2

    def _body(self) -> tuple[list[str], list[str], dict[str, str]]:
        init_lines: list[str] = []
        forward_lines: list[str] = []
        attributes: dict[str, str] = {}
        for node_id in self.result.order:
            info = self.result.nodes[node_id]
            block = get_block(info.type)
            if block.is_source:
                continue
            emission = block.emit(info.params, info.inputs)
            self._collect(emission.helpers, emission.imports)
            attr = None
            if emission.init is not None:
                attr = self.attrs.create(node_id, "layer")
                attributes[node_id] = attr
                init_lines.append(f"self.{attr} = {render_call(emission.init)}")
            lines = self._forward_lines(node_id, emission.forward, attr, info.sources)
            lines[-1] += f"  # {info.output}"
            forward_lines.extend(lines)
        return init_lines, forward_lines, attributes

    def _collect(self, helpers: tuple[str, ...], imports: tuple[str, ...]) -> None:
        for helper in helpers:
            if helper not in self.helpers:
                self.helpers.append(helper)
        self.imports.update(imports)

    def _forward_lines(self, node_id: str, template: str, attr: str | None, sources: dict[str, list[str]]) -> list[str]:
        mapping: dict[str, Any] = {"mod": f"self.{attr}" if attr else ""}
        for port, srcs in sources.items():
            names = [self.var[s] for s in srcs]
            mapping[port] = names if port == "inputs" else names[0]
        mapping["out"] = self._output_var(node_id, sources)
        for _, name, _, _ in Formatter().parse(template):
            base = re.match(r"\w+", name).group() if name else None
            if base and base not in mapping:
                mapping[base] = self.locals.create(base, "tmp")
        return template.format(**mapping).split("\n")

    def _output_var(self, node_id: str, sources: dict[str, list[str]]) -> str:
        """Keep one variable flowing down the main path, as a person would (x = self.conv1(x)).

        A node takes over an input's variable when it is that value's last use; a merge (Add, Concat) takes
        the oldest such variable, so a residual block reads ``x = out + x`` and the trunk stays ``x``. A
        branch, or a node feeding a secondary port (an encoder's state, attention memory), is named after
        its node, so ``self.decoder(tgt, encoder)`` reads right."""
        candidates = [s for srcs in sources.values() for s in srcs if self._is_last_use(s, node_id)]
        if "inputs" not in sources:
            candidates = candidates[:1] if candidates and candidates[0] == next(iter(sources.values()))[0] else []
        if candidates and not self._feeds_secondary_port(node_id):
            name = min((self.var[c] for c in candidates), key=self.created.__getitem__)
        else:
            name = self.locals.create(node_id, "h")
            self.created[name] = len(self.created)
        self.var[node_id] = name
        return name

    def _is_last_use(self, source: str, node_id: str) -> bool:
        consumers = {e.target for e in self.graph.out_edges(source)}
        return all(self.position[c] <= self.position[node_id] for c in consumers)

    def _feeds_secondary_port(self, node_id: str) -> bool:
        for edge in self.graph.out_edges(node_id):
            info = self.result.nodes[edge.target]
            ports = list(info.sources)
            if len(ports) > 1 and node_id not in info.sources[ports[0]]:
                return True
        return False

    def _header(self, inputs: list[ModelInput], outputs: tuple[str, ...]) -> list[str]:
        lines = [f'"""{self.class_name}: a PyTorch model generated by LayerLab.', ""]
        for item in inputs:
            lines.append(f"Input {item.name}: {_shape_text(item.shape)} {'token ids' if item.dtype == 'long' else 'float'}")
        for k, node_id in enumerate(outputs, start=1):
            label = "Output" if len(outputs) == 1 else f"Output {k}"  # no node ids here: they are user text
            lines.append(f"{label}: {self.result.nodes[node_id].output}")
        lines += ['"""', ""]  # one blank line before the imports
        description = comment_text(self.graph.description, 1000)
        if description:
            lines += [f"# {chunk}" for chunk in _wrap(description, 100)] + [""]
        if self.imports:
            lines += [*sorted(self.imports), ""]
        lines += ["import torch", "from torch import nn", "", ""]
        return lines

    def _helper_sources(self) -> list[str]:
        from codegen import layers  # imports torch: only when a helper class is needed

        out: list[str] = []
        for helper in self.helpers:
            out += [inspect.getsource(getattr(layers, helper)).rstrip(), "", ""]
        return out

    def _class(self, inputs: list[ModelInput], outputs: tuple[str, ...], init_lines: list[str],
               forward_lines: list[str]) -> list[str]:
        args = ", ".join(f"{i.name}: torch.Tensor" for i in inputs)
        returns = "torch.Tensor" if len(outputs) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(outputs))}]"
        result = ", ".join(self.var[o] for o in outputs)
        return [
            f"class {self.class_name}(nn.Module):",
            f"{INDENT}def __init__(self) -> None:",
            f"{INDENT * 2}super().__init__()",
            *[f"{INDENT * 2}{line}" for line in init_lines],
            "",
            f"{INDENT}def forward(self, {args}) -> {returns}:",
            *[f"{INDENT * 2}{line}" for line in forward_lines],
            f"{INDENT * 2}return {result}",
            "",
            "",
        ]

    def _footer(self, inputs: list[ModelInput], outputs: tuple[str, ...]) -> list[str]:
        shapes = ", ".join(f'"{i.name}": {literal(i.shape)}' for i in inputs)  # names are identifiers
        tensors = [_example_tensor(i) for i in inputs]
        lines = [
            f"INPUT_SHAPES = {{{shapes}}}  # one sample, without the batch dimension",
            "",
            "",
            "def example_inputs(batch_size: int = 2) -> tuple[torch.Tensor, ...]:",
            f'{INDENT}"""A random batch in the shape {self.class_name} expects."""',
            f"{INDENT}return ({', '.join(tensors)}{',' if len(tensors) == 1 else ''})",
            "",
            "",
            'if __name__ == "__main__":',
            f"{INDENT}model = {self.class_name}()",
        ]
        if len(outputs) == 1:
            lines += [f"{INDENT}out = model(*example_inputs())", f'{INDENT}print("output shape:", tuple(out.shape))']
        else:
            lines += [f"{INDENT}outs = model(*example_inputs())",
                      f"{INDENT}for k, out in enumerate(outs):",
                      f'{INDENT * 2}print(f"output {{k}} shape:", tuple(out.shape))']
        lines.append(f'{INDENT}print(f"parameters: {{sum(p.numel() for p in model.parameters()):,}}")')
        return [*lines, ""]


def _example_tensor(item: ModelInput) -> str:
    dims = ", ".join(["batch_size", *(str(d) for d in item.shape)])
    if item.dtype == "long":
        return f"torch.randint(0, {item.high}, ({dims}))"
    return f"torch.randn({dims})"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *(str(d) for d in shape)]) + ")"


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def render_call(call: Call) -> str:
    """``nn.Conv2d(1, 16, kernel_size=3)``: the callee comes from the catalog, every value through literal()."""
    if not _FUNC.match(call.func):
        raise ValueError(f"unexpected callee {call.func!r}")
    args = [literal(a) for a in call.args]
    for key, value in call.kwargs.items():
        if not key.isidentifier():
            raise ValueError(f"unexpected keyword {key!r}")
        args.append(f"{key}={literal(value)}")
    return f"{call.func}({', '.join(args)})"


def literal(value: Any) -> str:
    """repr() of a validated literal: only None, bool, int, finite float, short str and tuples of them."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"non-finite number {value!r}")
        return repr(value)
    if isinstance(value, str) and len(value) <= 64:
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise ValueError(f"unsupported literal {type(value).__name__}")
