"""Ready-made designs shipped as project files in assets/templates/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.graph import Graph
from builder.project import ProjectError, load_project, load_shipped

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "assets" / "templates"


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    layers: tuple[str, ...]  # block types in node order, for a glance in the gallery


def template_names() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))


def load_template(name: str) -> Graph:
    path = TEMPLATE_DIR / f"{name}.json"
    if name not in template_names():
        raise ProjectError([f"no template named {name!r}; see `layerlab templates`"])
    return load_shipped(path)


def list_templates() -> list[TemplateInfo]:
    infos = []
    for name in template_names():
        graph = load_template(name)
        infos.append(TemplateInfo(name, graph.description, tuple(n.type for n in graph.nodes)))
    return infos


def load_design(ref: str) -> Graph:
    """A template name or a path to a project file. Raises ProjectError or OSError (unreadable file)."""
    path = Path(ref)
    if ref in template_names() and not path.exists():
        return load_template(ref)
    if not path.exists() and "/" not in ref and not ref.endswith(".json"):
        raise FileNotFoundError(f"{ref!r} is neither a template name nor a file; see `layerlab templates`")
    return load_project(path.read_bytes())
