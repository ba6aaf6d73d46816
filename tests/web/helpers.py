"""Driving the console as a browser would, without one: session cookie, CSRF token, form posts."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment
from cityloop.cases.models import Case
from cityloop.intake.models import Report
from cityloop.settings import Settings
from cityloop.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE
from tests.conftest import Persona

CSRF = "test-csrf-token-0123456789abcdef"


class Web:
    """A TestClient signed in as one persona (or nobody), posting forms with the CSRF token."""

    def __init__(self, client: TestClient, persona: Persona | None = None) -> None:
        self.client = client
        client.cookies.clear()
        client.cookies.set(CSRF_COOKIE, CSRF)
        if persona is not None:
            client.cookies.set(SESSION_COOKIE, persona.token)

    def get(self, url: str, **kw: Any) -> Response:
        return self.client.get(url, follow_redirects=False, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, files: Any = None, *, csrf: bool = True,
             htmx: bool = False) -> Response:
        form = {**(data or {})}
        if csrf:
            form[CSRF_FIELD] = CSRF
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(url, data=form, files=files, headers=headers, follow_redirects=False)


def text_of(html: str) -> str:
    """The visible text, roughly: enough to assert what a page says."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def jpeg(color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """A small real JPEG, as a phone would send."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.attachments_path()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def counts(session: Session) -> tuple[int, int, int]:
    """Cases, reports and photos stored: what a refused form must leave unchanged."""
    return tuple(int(session.scalar(sa.select(sa.func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                 for t in (Case, Report, Attachment))
