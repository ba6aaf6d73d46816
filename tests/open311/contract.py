"""Checks shared by the Open311 tests: JSON Schema validation (tests/open311/schemas, Draft 2020-12, with the
format checker: jsonschema[format-nongpl] makes `date-time` and `uri` real checks), and an independent reading of
XML by the Spark convention to compare it with JSON (doc §16.6)."""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "schemas"
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
KINDS = ("services", "service-definition", "requests", "post-response", "token-response", "errors", "discovery",
         "updates")

# Containers of repeated children, by element name, written here from the spec's examples (not imported from
# the server, so a wrong server table cannot pass its own test).
CONTAINERS = {
    "services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
    "values": "value", "endpoints": "endpoint", "formats": "format", "media_urls": "media_url", "notes": "note",
    "service_requests_updates": "request_update",
}


@functools.cache
def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@functools.cache
def validator(kind: str, extended: bool = False) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{kind}.{'extended' if extended else 'strict'}.json").read_text("utf-8"))
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(kind: str, body: Any, extended: bool = False) -> list[str]:
    return sorted(str(e.message) for e in validator(kind, extended).iter_errors(body))


def assert_valid(kind: str, body: Any, extended: bool = False) -> None:
    problems = schema_errors(kind, body, extended)
    assert not problems, problems


def parse_xml(body: bytes) -> ET.Element:
    assert body.startswith(DECLARATION), body[:60]
    root = ET.fromstring(body)  # noqa: S314 - the test's own server's output, not untrusted input
    for el in root.iter():
        assert "{" not in el.tag, f"namespaced element {el.tag}"
        assert not el.attrib, f"attributes on <{el.tag}>"
    return root


def spark(el: ET.Element) -> Any:
    """XML → JSON by the Spark convention: containers become lists, other parents dicts, leaves strings (None
    when empty)."""
    if el.tag in CONTAINERS:
        child = CONTAINERS[el.tag]
        assert all(c.tag == child for c in el), f"<{el.tag}> holds {[c.tag for c in el]}"
        return [spark(c) for c in el]
    if len(el):
        return {c.tag: spark(c) for c in el}
    return el.text if el.text else None


def as_xml_text(value: Any) -> Any:
    """JSON data with every scalar as XML would print it, for comparing the two formats."""
    if isinstance(value, dict):
        return {k: as_xml_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_xml_text(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return str(value)


def same_data(json_body: Any, xml_body: bytes) -> bool:
    return as_xml_text(json_body) == spark(parse_xml(xml_body))
