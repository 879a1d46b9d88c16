"""Share links: a whole design in one URL-safe string.

Format "1.<payload>": the version, a dot, then the project JSON (compact, positions dropped unless asked for)
compressed with zlib level 9 and written in URL-safe base64 without padding. Decoding treats the text as
hostile: every size is bounded before work is done, and every failure is a ShareError with a plain message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from builder.graph import Graph
from builder.library import unchanged_library_blocks
from builder.project import ProjectError, dump_project, load_project

VERSION = "1"
PREFIX = VERSION + "."
MAX_LINK_CHARS = 16_000  # well inside what browsers and proxies accept in a URL
MAX_JSON_BYTES = 1_000_000  # decompressed size limit: a tiny link can't expand into gigabytes
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class ShareError(ValueError):
    """A share link that can't be opened; the message says why in words a user understands."""


def encode_share(graph: Graph, keep_positions: bool = False) -> str:
    data = dump_project(graph)
    if not keep_positions:
        for node in data["nodes"]:
            node.pop("pos", None)
    unchanged = unchanged_library_blocks(graph)
    if unchanged:  # the reader copies them back from the library: a link carries only what the user changed
        data["definitions"] = {k: v for k, v in data["definitions"].items() if k not in unchanged}
        if not data["definitions"]:
            del data["definitions"]
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    packed = zlib.compress(text.encode("utf-8"), 9)
    return PREFIX + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode_share(text: Any, max_chars: int = MAX_LINK_CHARS) -> Graph:
    """The design in a share link, or ShareError."""
    payload = _payload(text, max_chars)
    raw = _inflate(_unbase64(payload))
    data = _parse(raw)
    try:
        return load_project(data)
    except ProjectError as err:
        raise ShareError("the link holds a design that can't be opened:\n" + "\n".join(err.problems)) from None
    except (RecursionError, TypeError, ValueError) as err:  # structures the format checks never expected
        raise ShareError(f"the link holds a design that can't be opened: {err}") from None


def _payload(text: Any, max_chars: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ShareError("the share link is empty")
    text = text.strip()
    if len(text) > max_chars:
        raise ShareError(f"the share link is {len(text):,} characters long; the limit is {max_chars:,}")
    if "?" in text:
        text = _from_url(text)
    version, dot, payload = text.partition(".")
    if not dot or not version.isdigit():
        raise ShareError("this is not a LayerLab share link (it should start with “1.”)")
    if version != VERSION:
        raise ShareError(f"this share link uses version {version}; this LayerLab reads version {VERSION}: update LayerLab")
    if not payload:
        raise ShareError("the share link is empty after its version")
    return payload


def _from_url(url: str) -> str:
    """A whole pasted URL: the payload is the query value that looks like one."""
    try:
        values = [v for _, v in parse_qsl(urlsplit(url).query)]
    except ValueError:
        raise ShareError("this is not a LayerLab share link (the address can't be read)") from None
    return next((v for v in values if v.startswith(PREFIX)), values[-1] if values else "")


def _unbase64(payload: str) -> bytes:
    if not _BASE64URL.fullmatch(payload) or len(payload) % 4 == 1:
        raise ShareError("the share link is damaged: it has characters a link can't contain, or was cut short")
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise ShareError("the share link is damaged: it is not valid base64") from None


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_JSON_BYTES)
    except zlib.error:
        raise ShareError("the share link is damaged: its data can't be decompressed") from None
    if inflater.unconsumed_tail:
        raise ShareError(f"the share link expands to more than {MAX_JSON_BYTES:,} bytes; the limit is {MAX_JSON_BYTES:,}")
    if not inflater.eof:
        raise ShareError("the share link is incomplete: it was probably cut short when copied")
    return raw


def _parse(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ShareError("the share link is damaged: its data is not text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ShareError("the share link is damaged: its data is not a LayerLab design (not JSON)") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")
