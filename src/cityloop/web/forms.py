"""What every page's forms share: reading the posted form before a synchronous endpoint runs, and turning a
refusal (pydantic's or a service's) into one message that names the field in the user's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from cityloop.core.errors import DomainError, ValidationFailed


async def read_form(request: Request) -> FormData:
    """The posted form, read before a synchronous endpoint runs (so no database session waits on an upload).
    Starlette keeps it on the request, so the CSRF check and this read parse the body once."""
    try:
        return await request.form()
    except Exception as exc:  # starlette raises several types for a broken multipart body
        raise ValidationFailed(f"表单无法读取（{exc}）", field="body") from exc


PostedForm = Annotated[FormData, Depends(read_form)]


def invalid(exc: ValidationError) -> ValidationFailed:
    """A pydantic error as a service would have refused it: the first field named, every message kept."""
    errors = [(".".join(str(p) for p in e.get("loc", ())) or "body", e.get("msg", "invalid")) for e in exc.errors()]
    message = "；".join(f"{field}: {msg}" for field, msg in errors)
    return ValidationFailed(message, field=errors[0][0] if errors else "body")


def field_label(field: str | None, labels: Mapping[str, str]) -> str:
    base = (field or "").split(".")[0].split("[")[0]
    return labels.get(base, base)


def message(exc: DomainError, labels: Mapping[str, str]) -> str:
    """「名称」（field）：what was wrong — the box to fix in the user's words, and the field's own name."""
    if not exc.field:
        return exc.message
    return f"请检查「{field_label(exc.field, labels)}」（{exc.field}）：{exc.message}"
