"""A design is handed back only if LayerLab's own project reader takes it back: an import never produces a file that
`layerlab validate` or the app would refuse to open (issue 20: DCGAN's discriminator once saved
``Reshape shape=[]``, a per-sample scalar no block holds)."""

from __future__ import annotations

from typing import Any

from importer.report import ImportFailure


def check_saveable(graph: Any, model_name: str) -> None:
    """Raise ImportFailure, in words, when the saved form of ``graph`` would not read back."""
    from builder.project import ProjectError, load_project, to_json

    try:
        load_project(to_json(graph))
    except ProjectError as err:
        raise ImportFailure(f"importing {model_name}", "the design", f"it would be saved as a file LayerLab can't "
                            f"read back ({err.problems[0]})",
                            "change the model at that layer (e.g. keep a size-1 dimension instead of squeezing "
                            "it away) or report this message") from None


def validation_errors(graph: Any) -> list[str]:
    """The errors `layerlab validate` would print for the saved design (none: it may be written)."""
    from builder.validate import validate

    return [f"{i.node or 'graph'}: {i.message}" for i in validate(graph).issues if i.severity.value == "error"]
