"""JSON and XML bodies (doc §2.1–§2.3). Pure.

JSON is the XML mapped by the spec's "Spark convention": the outer element is dropped and a container of
repeated children becomes an array, always, even with one child. Both formats are rendered here from the same
Python data; the table below names the child element of every container, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.sax.saxutils import escape

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
FORMATS = tuple(MEDIA_TYPES)

# container element → the element of each of its items
ITEMS = {
    "services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
    "values": "value", "endpoints": "endpoint", "formats": "format", "media_urls": "media_url",
    "notes": "note", "service_requests_updates": "request_update", "service_request_updates": "request_update",
}

# XML 1.0 cannot carry most C0 controls at all (not even escaped); a description pasted from elsewhere may.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        out.append(f"<{name}/>")
    elif isinstance(value, dict):
        out.append(f"<{name}>")
        for key, inner in value.items():
            _element(key, inner, out)
        out.append(f"</{name}>")
    elif isinstance(value, list | tuple):
        child = ITEMS.get(name)
        if child is None:
            raise ValueError(f"no item element is defined for the container <{name}>")
        out.append(f"<{name}>")
        for inner in value:
            _element(child, inner, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape(scalar_text(value))}</{name}>")


def to_xml(root: str, data: list[Any] | dict[str, Any]) -> bytes:
    """UTF-8, the exact declaration, no namespace, no attributes; Chinese stays readable (no char refs)."""
    out: list[str] = [XML_DECLARATION, "\n"]
    _element(root, data, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


def to_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(fmt: str, root: str, data: list[Any] | dict[str, Any]) -> bytes:
    return to_xml(root, data) if fmt == "xml" else to_json(data)


def error_items(status: int, descriptions: list[str]) -> list[dict[str, Any]]:
    return [{"code": status, "description": d} for d in descriptions]
