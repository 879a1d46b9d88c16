"""torch.onnx.export refusing a model, said in one sentence: which exporter, which op or line, and what to do.

torch's own text is pages long (ANSI colours, links, a graph dump); the corpus table shows this sentence instead.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LINE = re.compile(r'File "([^"]+)", line (\d+), in \w+\n\s+(.+)')
_OP = re.compile(r"ONNX export of operator ([\w:.]+)(?:, ([^.]+))?")
_MISSING = re.compile(r"missing (?:a|\d+) required (?:positional )?argument:? '(\w+)'")


def export_refusal(err: BaseException, dynamo: bool) -> str:
    """``err`` from ``torch.onnx.export(model, args, path, dynamo=dynamo)`` as LayerLab's sentence."""
    texts = [_ANSI.sub("", str(e)) for e in _chain(err)]
    text = "\n".join(texts)
    which = "the default (dynamo) exporter" if dynamo else "the TorchScript exporter (dynamo=False)"
    other = "export with dynamo=False" if dynamo else "export with the default exporter (dynamo=True)"
    todo = f"{other}, or import the PyTorch file itself (layerlab import model.py:Class)"
    lines = _LINE.findall(text)
    user = [(f, n, c) for f, n, c in lines if "site-packages" not in f]
    where = f" at {user[-1][0].rpartition('/')[2]}:{user[-1][1]} (`{user[-1][2].strip()}`)" if user else ""
    if found := _OP.search(text):
        detail = f" ({found.group(2).strip()})" if found.group(2) else ""
        why = f"it has no ONNX form for the operator {found.group(1)}{detail}"
    elif found := _MISSING.search(text):
        why = f"forward() needs the argument '{found.group(1)}', and the export passed only the model's inputs"
        todo = f"pass every argument forward() needs in the export's args, or give '{found.group(1)}' a default; " \
               "or import the PyTorch file itself (layerlab import model.py:Class)"
    elif "data-dependent" in text or "GuardOnDataDependent" in text:
        why = "a size or a branch there depends on the values of a tensor, which torch.export can't follow"
    else:
        last = type(list(_chain(err))[-1]).__name__
        why = f"it stopped with {last}: {_first_sentence(texts[-1])}"
    return f"torch's ONNX export refused the model with {which}{where}: {why}; {todo}"


def _chain(err: BaseException) -> list[BaseException]:
    found = [err]
    while found[-1].__cause__ is not None and len(found) < 8:
        found.append(found[-1].__cause__)
    return found


def _first_sentence(text: str, limit: int = 160) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = re.sub(r"\s*(Please|See|For more|If you).*$", "", first)  # torch's advice and links: not ours
    sentence = re.split(r"(?<=[.!?])\s", first)[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[:limit].rpartition(" ")[0] + " …"
