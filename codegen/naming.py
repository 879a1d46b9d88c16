"""The one path by which user text becomes Python identifiers or comment text (after torch.fx's _Namespace).

Identifiers: letters, digits and underscores only; no leading digit; never a keyword, builtin, dunder or a
name the generated code itself uses; unique within the namespace. Everything else a user typed reaches the
source only through repr() of a validated value (see codegen.source).
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

_RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | {
    "self", "torch", "nn", "math", "F", "model", "main", "forward", "example_inputs", "INPUT_SHAPES",
}
_MAX_LENGTH = 40
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]{0,47}")  # as a block definition's name (builder.project_defs)


def to_identifier(text: str, fallback: str = "node") -> str:
    """A safe snake_case identifier derived from ``text`` (not yet unique)."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    # Case is kept: an imported model's `Mixed_5b` must stay its state-dict key (torchvision's Inception3).
    name = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_text).strip("_")[:_MAX_LENGTH].strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if name in _RESERVED or name.startswith("__"):
        name = f"{name}_"
    return name


def to_class_name(text: str, fallback: str = "Model") -> str:
    """``digits_cnn`` → ``DigitsCnn``, ``ResMLP`` → ``ResMLP``: a safe CamelCase identifier. Each word gets a
    capital first letter and keeps the rest as the user wrote it (lower-casing ``ResMLP`` to ``Resmlp`` would
    rename the user's class)."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    words = re.findall(r"[0-9A-Za-z]+", ascii_text)
    name = "".join(w[:1].upper() + w[1:] for w in words)[:_MAX_LENGTH] or fallback
    if name[0].isdigit() or name in _RESERVED:
        name = fallback + name
    return name


def is_class_name(text: str) -> bool:
    """A name the user wrote as a class name (``BasicBlock``, ``ResMLP``, ``My_Block``): kept as written."""
    return bool(_CLASS_NAME.fullmatch(text)) and text not in _RESERVED


class Namespace:
    """Hands out unique identifiers; the only way codegen names things."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self._used: set[str] = set(taken or ())

    def create(self, text: str, fallback: str = "node") -> str:
        base = to_identifier(text, fallback)
        name, k = base, 1
        while name in self._used:
            name = f"{base}_{k}"
            k += 1
        self._used.add(name)
        return name

    def create_attribute(self, text: str, fallback: str = "layer") -> str:
        """A unique ``self.<name>`` for a layer: only Python's keywords and dunders are refused, since an attribute
        can't shadow a builtin or the script's ``main`` — so an imported ``self.main`` keeps its state-dict key."""
        name = to_identifier(text, fallback)
        bare = name[:-1]
        if name.endswith("_") and bare in _RESERVED and not keyword.iskeyword(bare) and not bare.startswith("__") \
                and bare not in self._used:  # nn.Module's own names (forward, train) keep to_identifier's underscore
            name = bare  # to_identifier's guard against builtins and the script's own names: not needed here
        base, k = name, 1
        while name in self._used:
            name = f"{base}_{k}"
            k += 1
        self._used.add(name)
        return name

    def create_class(self, text: str, fallback: str = "Block") -> str:
        """A unique class name; a name that already is one (``BasicBlock``, ``ResMLP``, ``My_Block``) is kept as
        written, anything else made CamelCase (``my block`` → ``MyBlock``)."""
        base = text if is_class_name(text) else to_class_name(text, fallback)
        name, k = base, 2
        while name in self._used:
            name = f"{base}{k}"
            k += 1
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def taken(self, name: str) -> bool:
        return name in self._used


def comment_text(text: str, limit: int = 300) -> str:
    """Text safe inside a ``#`` comment: printable characters only, no line breaks of any kind."""
    cleaned = "".join(ch if ch.isprintable() and ch not in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" else " " for ch in str(text))
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned[:limit]
