"""The console's text is gettext-ready: a compiled catalog turns the Chinese source strings into another
language, and without one the Chinese shows as written."""

from __future__ import annotations

import struct
from pathlib import Path

from starlette.requests import Request

from cityloop.web.templating import make_templates


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo catalog (the format msgfmt writes): header, two offset tables, then the strings."""
    keys = sorted(messages)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(messages[k].encode() + b"\0" for k in keys)
    start = 7 * 4 + 16 * len(keys)
    id_table, str_table, offset = [], [], 0
    for k in keys:
        n = len(k.encode())
        id_table += [n, start + offset]
        offset += n + 1
    offset = 0
    for k in keys:
        n = len(messages[k].encode())
        str_table += [n, start + len(ids) + offset]
        offset += n + 1
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + struct.pack(f"<{len(id_table)}I", *id_table)
                     + struct.pack(f"<{len(str_table)}I", *str_table) + ids + strs)


def login_page(templates_language: str, locale: Path) -> str:
    templates = make_templates(templates_language, locale)
    request = Request({"type": "http", "method": "GET", "path": "/login", "headers": [], "query_string": b""})
    return templates.get_template("auth/login.html").render(
        request=request, principal=None, csrf_token="x", htmx=False, path="/login", map_config={}, done=None,
        next="", error=None, username="", settings=None)


def test_a_catalog_translates_the_pages(tmp_path: Path) -> None:
    write_mo(tmp_path / "en" / "LC_MESSAGES" / "cityloop.mo",
             {"": "Content-Type: text/plain; charset=UTF-8\n",
              "登录": "Sign in", "用户名": "User name", "密码": "Password"})
    english = login_page("en", tmp_path)
    assert "Sign in" in english
    assert "User name" in english
    assert "用户名" not in english


def test_without_a_catalog_the_chinese_source_shows(tmp_path: Path) -> None:
    chinese = login_page("zh_CN", tmp_path)
    assert "登录" in chinese
    assert "用户名" in chinese
