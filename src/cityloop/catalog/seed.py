"""Idempotent import of the national class directory shipped in catalog/data/categories.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.catalog.enums import GBT_47678_2026, KIND_BY_LABEL
from cityloop.catalog.models import Category

_DATA = "data/categories.csv"


@dataclass(frozen=True)
class DirectoryRow:
    kind_label: str
    major_code: str
    major_name: str
    sub_code: str
    sub_name: str
    source: str


def national_directory() -> list[DirectoryRow]:
    """The GB/T 47678.5-2026 rows of the shipped file (3-digit minor codes; the 运城 rows have 2)."""
    text = resources.files("cityloop.catalog").joinpath(_DATA).read_text(encoding="utf-8")
    rows = []
    for rec in csv.DictReader(text.splitlines()):
        if rec["source"].startswith("GB/T 47678.5-2026"):
            rows.append(DirectoryRow(rec["kind"], rec["major_code"], rec["major_name"], rec["sub_code"],
                                     rec["sub_name"], rec["source"]))
    return rows


def seed_national_directory(session: Session) -> tuple[int, int]:
    """Insert missing classes and refresh names of existing ones. Returns (inserted, updated)."""
    existing = {(c.kind, c.code): c for c in session.scalars(
        sa.select(Category).where(Category.scheme == GBT_47678_2026))}
    inserted = updated = 0
    for row in national_directory():
        kind = KIND_BY_LABEL[row.kind_label]
        code = row.major_code + row.sub_code
        cat = existing.get((kind, code))
        if cat is None:
            session.add(Category(scheme=GBT_47678_2026, kind=kind, code=code, major_code=row.major_code,
                                 major_name=row.major_name, sub_code=row.sub_code, name=row.sub_name,
                                 source=row.source[:300]))
            inserted += 1
        elif (cat.name, cat.major_name) != (row.sub_name, row.major_name):
            cat.name, cat.major_name = row.sub_name, row.major_name
            updated += 1
    return inserted, updated
