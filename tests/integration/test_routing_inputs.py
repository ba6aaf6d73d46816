"""Routing one case reads only the units it could go to; that narrow read must decide exactly as the full one."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.catalog.enums import Kind
from cityloop.parts.models import Part, PartStatus
from cityloop.routing import service as routing
from tests import mapworld
from tests.factories import EPOCH


def test_the_narrow_unit_read_decides_as_the_full_one(session: Session) -> None:
    city = mapworld.build(session)
    lon, lat = mapworld.center("330101", 1, 1)
    where = area_index.locate(session, lon, lat)
    assert where.grid_code is not None
    for code, maintainer in (("33010101037000001", "91330100DL0000001X"), ("33010101023000001", "")):
        session.add(Part(code=code, category_code=code[6:11], name="测试部件", competent_code="", competent_name="",
                         maintainer_code=maintainer, grid_code=where.grid_code, status=PartStatus.INTACT,
                         surveyed_on=EPOCH.date(), lon=lon, lat=lat, created_at=EPOCH))
    session.flush()
    full = routing.load_inputs(session)
    assert len(full.units) == len(city.units)
    cases = itertools.product(
        [(d, s, c) for d in mapworld.DISTRICTS for s in (1, 2) for c in (1, 2)],
        [(Kind.PART, "01037"), (Kind.PART, "04002"), (Kind.EVENT, "06010"), (Kind.EVENT, "08001"),
         (Kind.EVENT, "09006")],
        [None, "33010101037000001", "33010101023000001"])
    decided = set()
    for (d, s, c), (kind, category), part in cases:
        facts = routing.facts_at(kind, category, area_index.locate(session, *mapworld.center(d, s, c)), part)
        narrow = routing.suggest(session, facts)
        assert narrow == routing.suggest(session, facts, full)
        decided.add((narrow.basis, narrow.unit.code if narrow.unit else None))
    # The sample exercised every basis and many units, so the equality above says something.
    assert {basis for basis, _ in decided} == {"owner", "territory", "authority"}
    assert len(decided) > 10
