"""The demo city's map: Hangzhou's 13 real districts (converted from GCJ-02), synthetic streets and communities
inside them, and unit grids. A point well inside each district lands in that district, one of its streets and
communities, and (where grids were generated) a well-formed grid; a point outside the city is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import shapely
import sqlalchemy as sa
from shapely.ops import polylabel
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.areas import service as area_service
from cityloop.areas.models import Grid, Territory, TerritoryLevel
from cityloop.core import crs
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.demo import city
from tests.dbutil import fresh_database_url, prepared_engine
from tests.factories import EPOCH

NAMES = {"330102": "上城区", "330105": "拱墅区", "330106": "西湖区", "330108": "滨江区", "330109": "萧山区",
         "330110": "余杭区", "330111": "富阳区", "330112": "临安区", "330113": "临平区", "330114": "钱塘区",
         "330122": "桐庐县", "330127": "淳安县", "330182": "建德市"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo map, loaded once for the module (synthesising it takes a couple of seconds)."""
    with fresh_database_url(tmp_path_factory.mktemp("map")) as url:
        eng = prepared_engine(url)
        with session_scope(write_sessionmaker(eng)) as session:
            city.load_territories(session, EPOCH, lambda _: None)
        yield eng
        eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Each test's changes (grids) are rolled back."""
    with Session(engine) as s:
        yield s
        s.rollback()


@pytest.fixture
def hangzhou(session: Session) -> dict[str, shapely.Geometry]:
    rows = session.execute(sa.select(Territory.code, Territory.geometry)
                           .where(Territory.level == TerritoryLevel.DISTRICT)).all()
    return {code: shapely.from_wkb(wkb) for code, wkb in rows}


def _deep_inside(geom: shapely.Geometry) -> shapely.Point:
    """The pole of inaccessibility of the district's largest part: as far from its border as a point can be."""
    part = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
    return polylabel(part, tolerance=0.001)


def test_every_district_is_on_the_map_with_synthetic_divisions(session: Session,
                                                               hangzhou: dict[str, shapely.Geometry]) -> None:
    districts = session.execute(sa.select(Territory.code, Territory.name)
                                .where(Territory.level == TerritoryLevel.DISTRICT)).all()
    assert {row.code: row.name for row in districts} == NAMES
    for code in NAMES:
        streets = session.scalars(sa.select(Territory).where(Territory.level == TerritoryLevel.STREET,
                                                             Territory.code.startswith(code))).all()
        assert 6 <= len(streets) <= 25
        assert all(s.synthetic and "合成" in s.name and re.fullmatch(code + r"\d{3}", s.code) for s in streets)


@pytest.mark.parametrize("district", sorted(NAMES))
def test_a_point_well_inside_each_district_lands_there(session: Session, hangzhou: dict[str, shapely.Geometry],
                                                       district: str) -> None:
    point = _deep_inside(hangzhou[district])
    where = area_index.locate(session, point.x, point.y)
    assert (where.district.code, where.district.name, where.district.synthetic) == (district, NAMES[district], False)
    assert where.street is not None
    assert where.community is not None
    assert where.street.code.startswith(district)
    assert where.community.code.startswith(where.street.code)
    assert where.street.synthetic
    assert where.community.synthetic
    assert where.grid_code is None  # no grids generated in this test yet
    assert where.description.startswith(f"{NAMES[district]} {where.street.name} {where.community.name}")
    # The same place given in GCJ-02 (a web map's coordinates) is the same place.
    glon, glat = crs.from_wgs84(point.x, point.y, crs.parse_crs("gcj02"))
    assert crs.to_wgs84(glon, glat, "gcj02") == pytest.approx((point.x, point.y), abs=1e-7)


@pytest.mark.parametrize("district", city.CENTRAL)
def test_central_districts_get_well_formed_unique_grids(session: Session, hangzhou: dict[str, shapely.Geometry],
                                                        district: str) -> None:
    point = _deep_inside(hangzhou[district])
    community = area_index.locate(session, point.x, point.y).community
    assert community is not None
    communities, count = area_service.generate_grids(session, [community.code], size_m=100.0, now=EPOCH)
    assert communities == 1
    codes = session.scalars(sa.select(Grid.code).where(Grid.code.startswith(community.code))).all()
    assert len(codes) == count == len(set(codes))
    assert 0 < count <= 999
    assert all(re.fullmatch(community.code + r"\d{3}", c) for c in codes)
    assert sorted(int(c[-3:]) for c in codes) == list(range(1, count + 1))
    where = area_index.locate(session, point.x, point.y)
    assert where.grid_code in codes
    grid = session.scalar(sa.select(Grid).where(Grid.code == where.grid_code))
    assert grid is not None
    assert shapely.from_wkb(grid.geometry).covers(point)


@pytest.mark.parametrize(("lon", "lat"), [(121.4737, 31.2304),  # 上海 人民广场
                                          (118.7969, 32.0603),  # 南京
                                          (120.72, 30.30)])     # 海宁, just east of 钱塘区
def test_points_outside_the_city_are_refused(session: Session, hangzhou: dict[str, shapely.Geometry],
                                             lon: float, lat: float) -> None:
    assert not any(shapely.covers(g, shapely.Point(lon, lat)) for g in hangzhou.values())
    with pytest.raises(area_index.OutsideCity) as refused:
        area_index.locate(session, lon, lat)
    assert refused.value.field == "lon"
    assert "outside the city" in refused.value.message
