"""Emit the PyTorch module for a valid graph: declared layers, a straight-line forward with shape comments.

The source is built only from catalog templates, identifiers from ``codegen.naming`` and literals through
``repr()``; ``codegen.safety.check_source`` parses it before anyone sees or runs it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from builder.blocks import Use
from builder.catalog import get_block
from builder.graph import Definition, Graph
from builder.validate import ValidationResult, validate
from codegen.classes import ClassError, ClassPlan, Expressions, kept_names, kept_path
from codegen.forward import ForwardWriter
from codegen.hierarchy import Classes, instance_node, write_classes
from codegen.literals import literal, module_attributes, render_call
from codegen.naming import Namespace, comment_text, to_class_name
from codegen.safety import check_source
from codegen.scope import ScopeNode, output_comments, outputs_of

INDENT = "    "
__all__ = ["CodegenError", "ModelInput", "ModelSource", "generate_model", "literal", "render_call"]


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
    # node id -> module attribute name, or its path where it keeps an imported one ("transformer.wte": read it with
    # get_submodule / get_parameter, which take either)
    attributes: dict[str, str] = field(default_factory=dict)
    # Every layer's module path, inside blocks too: "layer2.0.conv1" -> "layer2.0.conv1" (flat id -> path)
    module_paths: dict[str, str] = field(default_factory=dict)


def generate_model(graph: Graph, result: ValidationResult | None = None) -> ModelSource:
    """The model module for ``graph``; raises CodegenError when the graph has errors."""
    result = result or validate(graph)
    if not result.valid:
        raise CodegenError([f"‘{i.node}’: {i.message}" if i.node else i.message for i in result.errors])
    try:
        model = _Writer(graph, result).write()
    except ClassError as err:
        raise CodegenError([str(err)]) from None
    check_source(model.code)
    return model


def _specs(inputs: dict) -> list:
    return [s for spec in inputs.values() for s in (spec if isinstance(spec, list) else [spec])]


def _is_input(graph: Graph, node_id: str) -> bool:
    """The design's Input nodes become forward() arguments rather than layers."""
    return graph.node(node_id).type == "Input"


def model_class_name(graph: Graph) -> str:
    """The model's class: the design's name, unless a block of the design already has it (a block opened from
    the library as a design of its own): the block keeps its name, the model is ``…Model``."""
    name = to_class_name(graph.name)
    return f"{name}Model" if name in graph.definitions else name


def _top_plan(graph: Graph, result: ValidationResult) -> ClassPlan:
    """The model class seen as the one use of a block with no parameters: every value is a literal."""
    return ClassPlan(Definition(graph.name, Graph()), model_class_name(graph), [Use(graph.name, "", {}, "", 0, {}, "")],
                     top=True)


class _Writer:
    def __init__(self, graph: Graph, result: ValidationResult) -> None:
        self.graph = graph
        self.result = result
        self.class_name = model_class_name(graph)
        self.attrs = Namespace(set(module_attributes()))
        self.locals = Namespace({self.class_name, "PositionalEncoding", "layer"})
        self.helpers: list[str] = []
        self.imports: set[str] = set()
        self.classes = Classes()
        self.var: dict[str, str] = {}
        self.access: dict[str, str] = {}  # node id -> how the model class reads its module (self.conv1)

    def write(self) -> ModelSource:
        if self.graph.definitions:
            self.classes = write_classes(self.graph, self.result, {self.class_name, "PositionalEncoding"})
            for plan in self.classes.plans.values():
                self._collect(tuple(plan.helpers), tuple(plan.imports))
        inputs = self._inputs()
        init_lines, forward_lines, attributes = self._body(inputs)
        init_lines += self._frozen(self.access)
        module_paths = self._module_paths(attributes)
        outputs = tuple(n.id for n in self.graph.sinks())
        code = "\n".join([
            *self._header(inputs, outputs),
            *self._helper_sources(),
            *self.classes.code,
            *self._class(inputs, outputs, init_lines, forward_lines),
            *self._footer(inputs, outputs),
        ])
        return ModelSource(code, self.class_name, tuple(inputs), outputs, attributes, module_paths)

    def _inputs(self) -> list[ModelInput]:
        found = []
        for node in self.graph.inputs():
            name = self.locals.create(node.id, "x")
            self.var[node.id] = name
            spec = self.result.nodes[node.id].output
            found.append(ModelInput(name, node.id, spec.shape, spec.dtype, self._token_bound(node.id)))
        return found

    def _token_bound(self, node_id: str) -> int:
        """Random token ids for examples stay below every Embedding they reach."""
        leaves = self.result.leaves
        bounds = [leaves.nodes[e.target].params.get("num_embeddings") for e in leaves.graph.out_edges(node_id)]
        bounds = [b for b in bounds if b]
        return min(bounds) if bounds else 2

    def _body(self, inputs: list[ModelInput]) -> tuple[list[str], list[str], dict[str, str]]:
        nodes = [self._scope_node(node_id) for node_id in self.result.order
                 if not _is_input(self.graph, node_id)]
        consumers: dict[str, list[str]] = {}
        for edge in self.graph.edges:
            consumers.setdefault(edge.source, []).append(edge.target)
        writer = ForwardWriter(nodes, consumers, {i.node: i.name for i in inputs}, self.attrs, self.locals,
                               residual_branches_only=True)
        body = writer.write()
        self.var = {node_id: body.value(node_id) for node_id in body.variables}
        self.access = body.access
        return body.init, body.forward, body.attributes

    def _scope_node(self, node_id: str) -> ScopeNode:
        info = self.result.nodes[node_id]
        node = self.graph.node(node_id)
        if node.type in self.graph.definitions:
            top = _top_plan(self.graph, self.result)
            scope_node = instance_node(self.graph, node, Expressions(top, self.result.leaves),
                                       self.classes.plans[node.type], self.graph)
            assert scope_node is not None
            scope_node.comment = str(info.output)
            return scope_node
        block = get_block(info.type)
        emission = block.emit(info.params, info.inputs)
        self._collect(emission.helpers, emission.imports)
        init = render_call(emission.init, nested=emission.buffer is not None) if emission.init is not None else None
        return ScopeNode(node_id, init, emission.forward, info.sources, str(info.output),
                         source_ports=info.source_ports, comments=output_comments([info.outputs]),
                         buffer=emission.buffer,
                         own_name=not info.output.batched and any(s.batched for s in _specs(info.inputs)),
                         path=kept_path(node), names=kept_names(node),
                         **outputs_of(block, info.params, emission))

    def _frozen(self, access: dict[str, str]) -> list[str]:
        """``requires_grad_(False)`` on the modules of nodes and block instances the design freezes (a frozen
        node without weights, a ReLU say, needs nothing)."""
        names = [access[n.id] for n in self.graph.nodes if not n.trainable and n.id in access]
        if not names:
            return []
        if len(names) == 1:
            return ["", f"{names[0]}.requires_grad_(False)  # frozen in the design: keeps its weights while the "
                        "rest trains"]
        return ["", "# Frozen in the design: these keep their weights while the rest trains.",
                f"for frozen in ({', '.join(names)}):", f"{INDENT}frozen.requires_grad_(False)"]

    def _module_paths(self, top: dict[str, str]) -> dict[str, str]:
        """Node id -> module path, for every node that has a module: top-level ids and, inside blocks, flat ids."""
        paths = dict(top)
        if self.result.expansion is None:
            return paths
        for use in self.result.expansion.uses:
            plan = self.classes.plans[use.definition]
            base = paths.get(use.instance)
            if base is None:
                continue
            repeated = use.prefix != f"{use.instance}."
            module = f"{base}.{use.index}" if repeated else base
            for inner, attr in plan.attributes.items():
                paths[use.prefix + inner] = f"{module}.{attr}"
        return paths

    def _collect(self, helpers: tuple[str, ...], imports: tuple[str, ...]) -> None:
        for helper in helpers:
            if helper not in self.helpers:
                self.helpers.append(helper)
        self.imports.update(imports)

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
        torch_imports = sorted(i for i in self.imports if i.startswith("import torch"))  # F, after torch itself
        others = sorted(set(self.imports) - set(torch_imports))
        if others:
            lines += [*others, ""]
        lines += ["import torch", *torch_imports, "from torch import nn", "", ""]
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
