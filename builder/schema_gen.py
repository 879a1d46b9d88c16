"""Generate the format's JSON Schema and the catalog sections of docs/format.md from the catalog.

One source of truth: block types, their parameters (types, ranges, choices, defaults) and ports live in the
catalog; the schema file and the docs are derived from it, and a test fails when either is out of date.

    python -m builder.schema_gen           # rewrite builder/schema/layerlab-3.schema.json and docs/format.md
    python -m builder.schema_gen --check   # exit 1 if either is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder.catalog import all_blocks
from builder.catalog.registry import BlockSpec
from builder.graph import PORT, Container
from builder.library import library_blocks
from builder.params import Kind, Param
from builder.project import (
    EDGE_KEYS,
    FORMAT_VERSION,
    MAX_FILE_BYTES,
    MAX_ID_LENGTH,
    MAX_META_BYTES,
    MAX_NAME_LENGTH,
    MAX_NODES,
    NODE_KEYS,
    TOP_KEYS,
)
from builder.project_defs import MAX_DEFINITIONS, MAX_REPEAT
from builder.project_defs import NAME as DEFINITION_NAME

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / f"layerlab-{FORMAT_VERSION}.schema.json"
DOC_PATH = ROOT / "docs" / "format.md"
SCHEMA_ID = f"https://layerlab.invalid/schema/layerlab-{FORMAT_VERSION}.schema.json"  # a name, never fetched
MAX_DESCRIPTION = 2000  # as builder.project checks it

# ---------------------------------------------------------------------------------------------- schema


def param_schema(param: Param) -> dict[str, Any]:
    """The JSON Schema of one parameter value, mirroring ``Param.check``."""
    bounds = {k: _number(v) for k, v in (("minimum", param.minimum), ("maximum", param.maximum)) if v is not None}
    integer = {"type": "integer", **bounds}
    array = {"type": "array", "items": integer, "minItems": param.min_len, "maxItems": param.max_len}
    by_kind: dict[Kind, dict[str, Any]] = {
        Kind.INT: integer,
        Kind.FLOAT: {"type": "number", **bounds},
        Kind.BOOL: {"type": "boolean"},
        Kind.CHOICE: {"enum": list(param.choices)},
        Kind.INTS: array,
        Kind.INT_OR_TUPLE: {"anyOf": [integer, array, *([{"enum": list(param.words)}] if param.words else [])]},
        Kind.TEXT: {"type": "string", "maxLength": param.max_len},
        Kind.FLOATS: {"type": "array", "items": {"type": "number", **bounds}, "minItems": param.min_len,
                      "maxItems": param.max_len},
    }
    schema = dict(by_kind[param.kind])
    if param.inferred or param.optional:  # null means "infer it" or "not used"
        schema = {"anyOf": [schema, {"type": "null"}]}
    return {"description": _param_doc(param), **schema, "default": param.default}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _param_doc(param: Param) -> str:
    if param.inferred:
        return f"{param.doc} (inferred from the input when absent)"
    return param.doc


def params_schema(block: BlockSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"Parameters of {block.type}; each is optional and takes its default when absent.",
        "properties": {p.name: param_schema(p) for p in block.params},
        "additionalProperties": False,
    }


def _node_schema(blocks: list[BlockSpec], inside: bool = False) -> dict[str, Any]:
    """A node of the design (catalog parameters checked by type) or, ``inside`` a definition, one whose
    parameters may also be $references to the definition's parameters (checked by the reader)."""
    per_type = [
        {"if": {"properties": {"type": {"const": b.type}}, "required": ["type"]},
         "then": {"properties": {"params": {"$ref": f"#/$defs/params/$defs/{b.type}"}}}}
        for b in blocks
    ]
    types: list[dict[str, Any]] = [{"enum": [b.type for b in blocks]}, {"pattern": DEFINITION_NAME.pattern}]
    if inside:
        types.append({"const": PORT})
    properties = {
        "id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": r"\S",
               "description": "Unique within the graph; edges refer to it."},
        "type": {"anyOf": types, "description": "A block type of the catalog, or the name of a block definition"
                                                + (", or Port (an input of the block)" if inside else "") + "."},
        "params": {"type": "object", "description": "Constructor keywords; absent ones take the default."
                                                    + (" Inside a definition a value may be a $reference." if inside else "")},
        "pos": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                "description": "Canvas position [x, y]."},
        "meta": {"type": "object", "description": f"Free-form, at most {MAX_META_BYTES:,} bytes as JSON."},
        "repeat": {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT, "default": 1,
                   "description": "An instance of a block definition repeated ×N in a chain."},
    }
    if not inside:
        properties["trainable"] = {"type": "boolean", "default": True,
                                   "description": "false: frozen, the node's (or block instance's) weights don't "
                                                  "change in training."}
    if inside:
        properties["when"] = {"type": "string", "description": "Present only when this true/false parameter of "
                                                               "the definition is true; otherwise bypassed."}
    schema: dict[str, Any] = {"type": "object", "required": ["id", "type"], "additionalProperties": False,
                              "properties": properties}
    if not inside:
        schema["allOf"] = per_type
    return schema


def _definition_schema() -> dict[str, Any]:
    param = {
        "type": "object", "required": ["name", "kind", "default"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "kind": {"enum": [k.value for k in Kind]},
            "default": {}, "doc": {"type": "string"}, "minimum": {"type": "number"}, "maximum": {"type": "number"},
            "choices": {"type": "array"},
            "first_only": {"type": "boolean", "description": "In a repeat, later copies take the default."},
        },
    }
    return {
        "type": "object", "required": ["nodes"], "additionalProperties": False,
        "properties": {
            "doc": {"type": "string", "maxLength": 2000},
            "params": {"type": "array", "items": param},
            "output": {"type": "string", "description": "The id of the node whose value the block returns."},
            "container": {"enum": [c.value for c in Container], "default": "module"},
            "nodes": {"type": "array", "items": {"$ref": "#/$defs/inner_node"}},
            "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}, "default": []},
        },
    }


def _edge_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["source", "target"],
        "additionalProperties": False,
        "properties": {
            "source": {"type": "string", "description": "The id of the node whose output flows."},
            "target": {"type": "string", "description": "The id of the node it feeds."},
            "port": {"type": "string", "description": "Which input of the target; see the ports of each block."},
            "source_port": {"type": "string",
                            "description": "Which output of the source, for blocks with several outputs (format "
                                           "version 3); without it, the source's main output."},
        },
    }


def build_schema() -> dict[str, Any]:
    """The whole JSON Schema (draft 2020-12) of format version 3 (which also describes every version-1 and -2 file).

    What a schema can't say is checked by the reader: ids unique, edges between existing nodes, a port
    that the target block has, no duplicate edges, the size limits on meta.
    """
    blocks = sorted(all_blocks(), key=lambda b: b.type)
    top = {
        "layerlab": {"enum": [1, 2, FORMAT_VERSION],
                     "description": "The format version: 2 with block definitions, 3 with edges that read a named "
                                    "output (source_port)."},
        "name": {"type": "string", "maxLength": MAX_NAME_LENGTH, "default": "model"},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": MAX_NODES},
        "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}, "default": []},
        "meta": {"type": "object", "description": "Free-form: training defaults, notes."},
        "definitions": {"type": "object", "maxProperties": MAX_DEFINITIONS,
                        "propertyNames": {"pattern": DEFINITION_NAME.pattern},
                        "additionalProperties": {"$ref": "#/$defs/definition"},
                        "description": "Blocks made of blocks, by name (format version 2)."},
    }
    assert set(top) == set(TOP_KEYS) and set(_edge_schema()["properties"]) == set(EDGE_KEYS)
    node = _node_schema(blocks)
    assert set(node["properties"]) | {"when"} == set(NODE_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"LayerLab project, format version {FORMAT_VERSION}",
        "description": "A neural network drawn as a graph of layer blocks. See docs/format.md.",
        "type": "object",
        "required": ["layerlab", "nodes"],
        "additionalProperties": False,
        "properties": top,
        # Without definitions, every node type must be a catalog block (a definition name can't be told apart).
        "if": {"not": {"required": ["definitions"]}},
        "then": {"properties": {"nodes": {"items": {"properties": {"type": {"enum": [b.type for b in blocks]}}}}}},
        "$defs": {"node": node, "inner_node": _node_schema(blocks, inside=True), "edge": _edge_schema(),
                  "definition": _definition_schema(),
                  # nested in $defs: block types such as `maximum` are JSON Schema keywords
                  "params": {"$defs": {b.type: params_schema(b) for b in blocks}}},
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------------ docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _param_text(param: Param) -> str:
    if param.inferred:
        return f"`{param.name}` (inferred)"
    return f"`{param.name}`={_value(param.default)}"


def _ports_text(block: BlockSpec) -> str:
    if not block.ports:
        return "none (a source)"
    if block.ports[0].variadic:
        return "`1`, `2`, … (two or more)"
    return ", ".join(f"`{p.name}`" + (" (optional)" if p.optional else "") for p in block.ports)


def catalog_table() -> str:
    """Every block: type, category, parameters with defaults, ports, doc — grouped by category."""
    lines = ["| Type | Category | Parameters (default) | Ports | What it does |", "|---|---|---|---|---|"]
    for block in sorted(all_blocks(), key=lambda b: (list(type(b.category)).index(b.category), b.type)):
        params = ", ".join(_param_text(p) for p in block.params) or "—"
        lines.append(f"| `{block.type}` | {block.category.value} | {_cell(params)} | {_ports_text(block)} "
                     f"| {_cell(block.doc)} |")
    return "\n".join(lines)


def ports_section() -> str:
    """The blocks with more than one input, what each port means, and what an edge without ``port`` feeds."""
    out = []
    for block in sorted(all_blocks(), key=lambda b: b.type):
        if not block.ports or (len(block.ports) == 1 and not block.ports[0].variadic):
            continue
        if block.ports[0].variadic:
            out.append(f"- **{block.type}**: ports `\"1\"`, `\"2\"`, … ({block.ports[0].doc}). Numbered edges come "
                       "first in number order, then edges without a port in the order they are listed.")
            continue
        ports = "; ".join(f"`{p.name}`{' (optional)' if p.optional and 'optional' not in p.doc else ''}: {p.doc}"
                          for p in block.ports)
        first = [p.name for p in block.ports if not p.optional] + [p.name for p in block.ports if p.optional]
        out.append(f"- **{block.type}**: {ports}. Without `port`, edges fill "
                   + " then ".join(f"`{n}`" for n in first) + " in the order they are listed.")
    return "\n".join(out)


def outputs_section() -> str:
    """The blocks with several outputs: their names, and which one an edge without ``source_port`` carries."""
    out = []
    for block in sorted(all_blocks(), key=lambda b: b.type):
        if block.outputs is None:
            continue
        found = block.outputs(block.defaults())
        main = f"; without `source_port`, `{found.main}`" if found.main else "; every edge must name one"
        out.append(f"- **{block.type}**: " + ", ".join(f"`{n}`" for n in found.names)
                   + f" (with default settings){main}. {block.outputs.__doc__ or ''}".rstrip())
    return "\n".join(out)


def inferred_section() -> str:
    """Which parameter of which block the input fixes."""
    rows = ["| Block | Inferred from the input |", "|---|---|"]
    for block in sorted(all_blocks(), key=lambda b: b.type):
        inferred = [f"`{p.name}`: {_cell(p.doc)}" for p in block.params if p.inferred]
        if inferred:
            rows.append(f"| `{block.type}` | {'; '.join(inferred)} |")
    return "\n".join(rows)


def limits_section() -> str:
    return "\n".join([
        f"- a file of at most {MAX_FILE_BYTES:,} bytes, UTF-8 (a byte-order mark is allowed);",
        f"- at most {MAX_NODES:,} nodes; ids of 1 to {MAX_ID_LENGTH} characters, not only spaces;",
        f"- `name` at most {MAX_NAME_LENGTH} characters, `description` at most {MAX_DESCRIPTION:,};",
        f"- a node's `meta` at most {MAX_META_BYTES:,} bytes as JSON, the top-level `meta` at most "
        f"{10 * MAX_META_BYTES:,};",
        "- no `NaN` or `Infinity` anywhere.",
    ])


def library_table() -> str:
    """The built-in block library (assets/blocks/), one row per block, with the blocks it brings along."""
    rows = ["| Block | Uses | What it is |", "|---|---|---|"]
    for block in library_blocks():
        uses = ", ".join(f"`{u}`" for u in block.uses) or "—"
        rows.append(f"| `{block.name}` | {uses} | {_cell(block.doc)} |")
    return "\n".join(rows)


SECTIONS: dict[str, Callable[[], str]] = {
    "catalog": catalog_table,
    "library": library_table,
    "ports": ports_section,
    "outputs": outputs_section,
    "inferred": inferred_section,
    "limits": limits_section,
}
_MARKED = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- end:\2 -->)", re.DOTALL)


def render_doc(text: str) -> str:
    """``text`` with every generated section (between its markers) rewritten from the catalog."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in SECTIONS:
            raise KeyError(f"docs/format.md has an unknown generated section {name!r}")
        return f"{match.group(1)}{SECTIONS[name]()}\n{match.group(4)}"

    return _MARKED.sub(replace, text)


# ------------------------------------------------------------------------------------------------- CLI


def stale_files() -> list[Path]:
    """The generated files whose content differs from what the catalog gives now."""
    stale = []
    if not SCHEMA_PATH.exists() or SCHEMA_PATH.read_text(encoding="utf-8") != schema_text():
        stale.append(SCHEMA_PATH)
    doc = DOC_PATH.read_text(encoding="utf-8")
    if render_doc(doc) != doc:
        stale.append(DOC_PATH)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builder.schema_gen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    stale = stale_files()
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python -m builder.schema_gen", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    DOC_PATH.write_text(render_doc(DOC_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    for path in stale:
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
