"""The units a dispatcher is offered for a case: the city's, and those whose territory lies in its district."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityloop.units import queries
from cityloop.units.models import UnitLevel
from tests import factories


def test_city_units_and_the_districts_own_come_broadest_first(session: Session) -> None:
    def unit(code: str, level: UnitLevel, territory: str | None, active: bool = True) -> None:
        u = factories.make_unit(session, code, level=level)
        u.territory_code, u.active = territory, active

    unit("C-ENV", UnitLevel.CITY, "330100")
    unit("D-106-ROADS", UnitLevel.DISTRICT, "330106")
    unit("S-106001", UnitLevel.STREET, "330106001")
    unit("Q-106001001", UnitLevel.COMMUNITY, "330106001001")
    unit("D-105-ROADS", UnitLevel.DISTRICT, "330105")       # another district: not offered
    unit("S-105001", UnitLevel.STREET, "330105001")
    unit("D-106-OLD", UnitLevel.DISTRICT, "330106", active=False)
    unit("X-ANYWHERE", UnitLevel.DISTRICT, None)             # no territory: serves anywhere
    session.flush()
    codes = [u.code for u in queries.serving_district(session, "330106", 500)]
    assert codes == ["C-ENV", "D-106-ROADS", "X-ANYWHERE", "S-106001", "Q-106001001"]
    assert len(queries.serving_district(session, "330106", 2)) == 2
