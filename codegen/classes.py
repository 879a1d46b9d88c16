"""One ``nn.Module`` class per block definition, with constructor arguments for what differs between its uses.

A definition is used in several places (ResNet's BasicBlock in four stages, each with its own width and stride).
Codegen looks at every use in the validated, expanded design and writes each constructor argument of each inner
layer as the simplest expression that is right for all of them:

1. the definition's own formula for it (``planes * 4``) or one of its parameters (``planes``);
2. for a size the input decides (``in_channels`` of the first convolution), a constructor argument named for it;
3. a literal, when every use has the same value.

So the class reads like torchvision's — ``BasicBlock(in_channels, planes, stride=1, downsample=False)`` — and
``layer2.0.conv1.weight`` in the generated module is ``layer2.0.conv1.weight`` in torchvision's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.blocks import Use, block_for
from builder.catalog import Call, get_block
from builder.graph import PORT, Container, Definition, Graph, Node
from builder.ports import PortProblem, assign_ports
from builder.refs import is_ref, parse_ref
from builder.validate import ValidationResult
from codegen.forward import ForwardWriter, ScopeNode
from codegen.literals import literal, module_attributes
from codegen.naming import Namespace, comment_text

INDENT = "    "
_TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "choice": "str", "ints": "tuple", "int_or_tuple": "int"}


class ClassError(ValueError):
    """A definition whose uses can't share one class; the message says which layer and why."""


@dataclass
class Arg:
    name: str
    type: str
    default: Any = None
    required: bool = False  # derived from the input: no default
    param: str | None = None  # the definition's parameter it is (None for a size derived from the input)
    values: list[Any] = field(default_factory=list)  # per use, in the order of ClassPlan.uses


@dataclass
class ClassPlan:
    definition: Definition
    class_name: str
    uses: list[Use]
    args: list[Arg] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # inner node id -> attribute (or index) name
    helpers: list[str] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)


class Expressions:
    """Writes per-use values as one expression in a class body (see the module docstring).

    ``index`` picks the uses the values come from: all of them, or only those where an optional layer exists."""

    def __init__(self, plan: ClassPlan, flat: ValidationResult, index: list[int] | None = None,
                 names: Namespace | None = None) -> None:
        self.plan = plan
        self.flat = flat
        self.index = list(range(len(plan.uses))) if index is None else index
        self.names = names or Namespace({"self", "nn", "torch", "super"})

    @property
    def uses(self) -> list[Use]:
        return [self.plan.uses[i] for i in self.index]

    def subset(self, present: list[Use]) -> Expressions:
        index = [k for k, u in enumerate(self.plan.uses) if any(u is p for p in present)]
        return Expressions(self.plan, self.flat, index, self.names)

    def param_arg(self, name: str) -> Arg:
        found = self.plan.arg(name)
        if found is None:
            block_param = self.plan.definition.param(name)
            found = Arg(self.names.create(name), _TYPE_NAMES.get(block_param.param.kind.value, "object"),
                        block_param.param.default, values=[u.values[name] for u in self.plan.uses], param=name)
            self.plan.args.append(found)
        return found

    def express(self, values: list[Any], node: Node, inferred: bool, where: str, param: str | None = None) -> str:
        """``param``: the layer parameter this argument carries (None for a fixed one such as batch_first=True):
        only that parameter's own formula may stand for it, so `causal` never writes `batch_first=causal`."""
        # An inferred size may also equal a formula another layer of the block uses: Bottleneck's bn3 has
        # conv3's `planes * 4` channels (added for imported blocks, builder.importer; also the library's).
        varies = inferred and len({repr(v) for v in values}) > 1
        others = [n for n in self.plan.definition.graph.nodes if n.id != node.id] if varies else []
        own = self._refs(node, param) if param is not None or not node.params else []
        for text, ref_values in [*own, *(ref for n in others for ref in self._refs(n))]:
            if ref_values == values:
                for name in parse_ref(text).names:
                    self.param_arg(name)
                return parse_ref(text).python()
        if inferred or len({repr(v) for v in values}) > 1:
            for arg in self.plan.args:
                if [arg.values[i] for i in self.index] == values:
                    return arg.name
            for block_param in self.plan.definition.params:
                if [u.values[block_param.name] for u in self.uses] == values:
                    return self.param_arg(block_param.name).name
            derived = self._derived(values)
            if derived is not None:
                return derived
        if len({repr(v) for v in values}) == 1:
            return literal(values[0])
        raise ClassError(f"{self.plan.definition.name} › {where}: its uses need different values {values} that no "
                         "parameter of the block explains; declare a parameter for it ($name)")

    def _refs(self, node: Node, only: str | None = None) -> list[tuple[str, list[Any]]]:
        found = []
        for name, value in node.params.items():
            if is_ref(value) and (only is None or name == only):
                ref = parse_ref(value)
                found.append((value, [ref.evaluate(u.values) for u in self.uses]))
        return found

    def _derived(self, values: list[Any]) -> str | None:
        """A size every use's input has at the same place: the input's channels or features."""
        for number, port in enumerate(self.plan.definition.inputs):
            shapes = [self.flat.nodes[u.port_sources[port]].output.shape for u in self.plan.uses]
            rank = len(shapes[0])
            if any(len(s) != rank for s in shapes):
                continue
            for dim in range(rank):
                if [shapes[i][dim] for i in self.index] == values:
                    name = _derived_name(port if number else "in", dim, rank)
                    arg = Arg(self.names.create(name), "int", required=True, values=[s[dim] for s in shapes])
                    self.plan.args.insert(sum(a.required for a in self.plan.args), arg)
                    return arg.name
        return None


def _derived_name(prefix: str, dim: int, rank: int) -> str:
    if dim == rank - 1:
        return f"{prefix}_features" if rank == 1 or rank == 2 else f"{prefix}_channels"
    if dim == 0:
        return f"{prefix}_channels"
    return f"{prefix}_dim{dim + 1}"


def shape_comment(specs: list[Any]) -> str:
    """``(N, 64, 56, 56)`` when every use agrees; letters where they differ (``(N, C, H, W)``)."""
    specs = [s for s in specs if s is not None]
    if not specs:
        return ""
    rank = len(specs[0].shape)
    letters = {1: "D", 2: "TD", 3: "CHW"}.get(rank, "ABCDEFGH"[:rank])
    dims = []
    for d in range(rank):
        column = {s.shape[d] if len(s.shape) == rank else None for s in specs}
        dims.append(str(column.pop()) if len(column) == 1 else letters[d])
    return "(" + ", ".join(["N", *dims]) + ")"


def scope_sources(design: Graph, graph: Graph, node: Node) -> dict[str, list[str]]:
    """Which scope nodes feed ``node``'s ports (``design`` knows the definitions, ``graph`` holds the node)."""
    assigned = assign_ports(block_for(design, node.type), graph.in_edges(node.id))
    if isinstance(assigned, PortProblem):  # validation refused such a design already
        raise ClassError(f"{node.id}: {assigned.message}")
    return {port: [e.source for e in edges] for port, edges in assigned.items()}


def catalog_node(plan: ClassPlan, node: Node, exprs: Expressions, design: Graph) -> ScopeNode | None:
    """A plain layer inside a definition, written once for all of its uses."""
    present = [u for u in plan.uses if u.prefix + node.id in exprs.flat.nodes]
    if not present:
        return None
    infos = [exprs.flat.nodes[u.prefix + node.id] for u in present]
    block = get_block(node.type)
    emissions = [block.emit(info.params, info.inputs) for info in infos]
    forward = {e.forward for e in emissions}
    if len(forward) > 1:
        raise ClassError(f"{plan.definition.name} › {node.id}: its uses need different code; give them one setting")
    for emission in emissions[:1]:
        plan.helpers.extend(h for h in emission.helpers if h not in plan.helpers)
        plan.imports.update(emission.imports)
    init = None
    if emissions[0].init is not None:
        if len(present) < len(plan.uses):  # only in some uses: the others' values don't matter
            exprs = exprs.subset(present)
        init = _render_init(emissions[0].init.func, [e.init for e in emissions], infos, node, exprs, block)
    optional = len(present) < len(plan.uses)
    flag = exprs.param_arg(node.when).name if optional and node.when else ""
    sources = scope_sources(design, plan.definition.graph, node)
    return ScopeNode(node.id, init, emissions[0].forward, sources, shape_comment([i.output for i in infos]),
                     optional=optional, flag=flag)


def _render_init(func: str, calls: list[Call], infos: list[Any], node: Node, exprs: Expressions, block: Any) -> str:
    inferred = {p.name for p in block.params if p.inferred and p.name not in node.params}
    slots = slot_params(block, infos[0])
    args = []
    for index in range(len(calls[0].args)):
        values = [c.args[index] for c in calls]
        args.append(exprs.express(values, node, _is_inferred(values, infos, inferred), f"{node.id} argument {index + 1}",
                                  param=slots.get(index)))
    order = {name: k for k, name in enumerate(block.param_names)}
    keys = sorted(dict.fromkeys(k for c in calls for k in c.kwargs), key=lambda k: order.get(k, len(order)))
    for key in keys:
        values = []
        for call, info in zip(calls, infos):
            if key in call.kwargs:
                values.append(call.kwargs[key])
            elif key in info.params:
                values.append(_plain(info.params[key]))
            else:
                raise ClassError(f"{node.id}: {key} is set in some uses only")
        param = slots.get(key, key if key in block.param_names else None)
        args.append(f"{key}={exprs.express(values, node, _is_inferred(values, infos, inferred), f'{node.id} {key}', param)}")
    return f"{func}({', '.join(args)})"


_PROBES = {"int": 987_653, "float": 0.987653}


def slot_params(block: Any, info: Any) -> dict[int | str, str]:
    """Which constructor argument carries which layer parameter, found by changing one parameter at a time and
    seeing which argument of the emitted call changes (the catalog's emit functions are plain formatting)."""
    base = block.emit(info.params, info.inputs).init
    found: dict[int | str, str] = {}
    if base is None:
        return found
    for param in block.params:
        value = info.params.get(param.name)
        probe = _PROBES.get(param.kind.value)
        if probe is None or value is None or isinstance(value, bool):
            continue
        try:
            changed = block.emit({**info.params, param.name: probe}, info.inputs).init
        except Exception:  # noqa: BLE001 — a probe an emit function can't format tells nothing, and costs nothing
            continue
        for index, (old, new) in enumerate(zip(base.args, changed.args)):
            if old != new:
                found.setdefault(index, param.name)
        for key in base.kwargs.keys() | changed.kwargs.keys():
            if base.kwargs.get(key) != changed.kwargs.get(key):
                found.setdefault(key, param.name)
    return found


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _is_inferred(values: list[Any], infos: list[Any], inferred: set[str]) -> bool:
    """The values are a size the input decides (``in_channels``, ``normalized_shape``) in every use."""
    return any([_scalar(info.params.get(name)) for info in infos] == [_scalar(v) for v in values] for name in inferred)


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


def class_header(plan: ClassPlan) -> list[str]:
    base = "nn.Sequential" if plan.definition.container is Container.SEQUENTIAL else "nn.Module"
    args = ["self"]
    for arg in plan.args:
        args.append(f"{arg.name}: {arg.type}" if arg.required else f"{arg.name}: {arg.type} = {_default(arg)}")
    lines = [f"class {plan.class_name}({base}):"]
    doc = comment_text(plan.definition.doc, 300)
    if doc:
        lines += [f'{INDENT}"""{doc}"""', ""]
    lines.append(f"{INDENT}def __init__({', '.join(args)}) -> None:")
    return lines


def _default(arg: Arg) -> str:
    return literal(arg.default)


def write_sequential(plan: ClassPlan, nodes: list[ScopeNode]) -> list[str]:
    for node in nodes:
        if node.init is None or node.forward != "{out} = {mod}({x})" or node.optional:
            raise ClassError(f"{plan.definition.name}: a 'sequential' block may hold only layers applied one after "
                             f"another; ‘{node.id}’ is not one")
    plan.attributes = {n.id: str(k) for k, n in enumerate(nodes)}
    body = [f"{INDENT * 3}{n.init},  # {n.id}: {n.comment}" for n in nodes]
    return [*class_header(plan), f"{INDENT * 2}super().__init__(", *body, f"{INDENT * 2})", "", ""]


def write_module(plan: ClassPlan, nodes: list[ScopeNode], consumers: dict[str, list[str]],
                 output: str) -> list[str]:
    attrs = Namespace(set(module_attributes()))
    local_names = Namespace({"self", "nn", "torch", "layer"} | {a.name for a in plan.args})
    inputs = {port: local_names.create(port, "x") for port in plan.definition.inputs}
    body = ForwardWriter(nodes, consumers, inputs, attrs, local_names, main_branch="out").write()
    plan.attributes = body.attributes
    signature = ", ".join(f"{name}: torch.Tensor" for name in inputs.values())
    return [
        *class_header(plan),
        f"{INDENT * 2}super().__init__()",
        *[f"{INDENT * 2}{line}" for line in body.init],
        "",
        f"{INDENT}def forward(self, {signature}) -> torch.Tensor:",
        *[f"{INDENT * 2}{line}" for line in body.forward],
        f"{INDENT * 2}return {body.variables[output]}",
        "",
        "",
    ]


def port_nodes(definition: Definition) -> set[str]:
    return {n.id for n in definition.graph.nodes if n.type == PORT}
