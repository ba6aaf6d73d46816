"""territories, grids, patrol areas, landmarks, parts, routing rules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The map (territories and unit grids, WGS-84 WKB with bounding boxes), collectors' patrol areas, the 部件
inventory, routing rules and dispatch policies; where each case happened; units' territory and credit code;
users' area scope.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str, length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "area_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_revisions")),
    )
    op.create_table(
        "dispatch_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("part", "event", name="policy_kind", native_enum=False, create_constraint=True, length=8),
            nullable=False,
        ),
        sa.Column("category_code", sa.String(length=5), nullable=False),
        sa.Column(
            "command_level",
            sa.Enum("city", "district", name="command_level", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("auto_dispatch", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_policies")),
        sa.UniqueConstraint("kind", "category_code", name=op.f("uq_dispatch_policies_kind_category_code")),
    )
    op.create_table(
        "landmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_landmarks")),
    )
    with op.batch_alter_table("landmarks", schema=None) as batch_op:
        batch_op.create_index("ix_landmarks_lat_lon", ["lat", "lon"], unique=False)

    op.create_table(
        "parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=17), nullable=False, comment="GLBJBSM 标识码"),
        sa.Column("category_code", sa.String(length=5), nullable=False, comment="major 2 + minor 3"),
        sa.Column("name", sa.String(length=30), nullable=False, comment="GLBJMC 名称"),
        sa.Column("competent_code", sa.String(length=18), nullable=False, comment="ZGBMDM 主管部门代码"),
        sa.Column("competent_name", sa.String(length=100), nullable=False, comment="ZGBMMC 主管部门名称"),
        sa.Column("owner_code", sa.String(length=18), nullable=False, comment="QSDWDM 权属单位代码"),
        sa.Column("owner_name", sa.String(length=100), nullable=False, comment="QSDWMC 权属单位名称"),
        sa.Column("maintainer_code", sa.String(length=18), nullable=False, comment="YHDWDM 养护单位代码"),
        sa.Column("maintainer_name", sa.String(length=100), nullable=False, comment="YHDWMC 养护单位名称"),
        sa.Column("grid_code", sa.String(length=15), nullable=False, comment="SZDYWGBSM 所在单元网格标识码"),
        sa.Column("street_code", sa.String(length=9), nullable=False, comment="SZJDDM"),
        sa.Column("street_name", sa.String(length=50), nullable=False, comment="SZJDMC"),
        sa.Column("community_code", sa.String(length=12), nullable=False, comment="SZSQDM"),
        sa.Column("community_name", sa.String(length=50), nullable=False, comment="SZSQMC"),
        sa.Column(
            "status",
            sa.Enum(
                "intact",
                "damaged",
                "lost",
                "abandoned",
                "removed",
                name="part_status",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
            comment="GLBJZT",
        ),
        sa.Column("surveyed_on", sa.Date(), nullable=False, comment="CSRQ 初始日期"),
        sa.Column("changed_on", sa.Date(), nullable=True, comment="BGRQ 变更日期"),
        sa.Column("data_source", sa.String(length=30), nullable=False, comment="SJLY 数据来源"),
        sa.Column("note", sa.String(length=1000), nullable=False, comment="BZ 备注"),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parts")),
        sa.UniqueConstraint("code", name=op.f("uq_parts_code")),
    )
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parts_category_code"), ["category_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_parts_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index("ix_parts_lat_lon", ["lat", "lon"], unique=False)

    op.create_table(
        "territories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "city",
                "district",
                "street",
                "community",
                name="territory_level",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("geometry", sa.LargeBinary(), nullable=False),
        sa.Column("min_lon", sa.Double(), nullable=False),
        sa.Column("min_lat", sa.Double(), nullable=False),
        sa.Column("max_lon", sa.Double(), nullable=False),
        sa.Column("max_lat", sa.Double(), nullable=False),
        sa.Column("area_km2", sa.Double(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["territories.id"], name=op.f("fk_territories_parent_id_territories")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territories")),
        sa.UniqueConstraint("code", name=op.f("uq_territories_code")),
    )
    with op.batch_alter_table("territories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_territories_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_territories_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "patrol_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["collector_id"], ["users.id"], name=op.f("fk_patrol_areas_collector_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_patrol_areas_code")),
    )
    with op.batch_alter_table("patrol_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patrol_areas_collector_id"), ["collector_id"], unique=False)

    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("part", "event", name="rule_kind", native_enum=False, create_constraint=True, length=8),
            nullable=True,
        ),
        sa.Column("category_code", sa.String(length=5), nullable=True, comment="a class code, or a 2-digit major"),
        sa.Column(
            "territory_code", sa.String(length=15), nullable=True, comment="district, street, community or grid code"
        ),
        sa.Column("owner_code", sa.String(length=18), nullable=True, comment="a part's 权属/养护/主管 unit code"),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "target_level",
            sa.Enum(
                "city",
                "district",
                "street",
                "community",
                name="rule_target_level",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("target_industry", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "unit_id IS NOT NULL OR (target_level IS NOT NULL AND target_industry IS NOT NULL)",
            name=op.f("ck_routing_rules_has_target"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_routing_rules_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rules_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("geometry", sa.LargeBinary(), nullable=False),
        sa.Column("center_lon", sa.Double(), nullable=False),
        sa.Column("center_lat", sa.Double(), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column("patrol_area_id", sa.Integer(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["territories.id"], name=op.f("fk_grids_community_id_territories")),
        sa.ForeignKeyConstraint(
            ["patrol_area_id"], ["patrol_areas.id"], name=op.f("fk_grids_patrol_area_id_patrol_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("code", name=op.f("uq_grids_code")),
    )
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grids_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_patrol_area_id"), ["patrol_area_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district_code", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("street_code", sa.String(length=9), nullable=True))
        batch_op.add_column(sa.Column("community_code", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("grid_code", sa.String(length=15), nullable=True))
        batch_op.add_column(sa.Column("location_desc", sa.String(length=256), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("part_code", sa.String(length=17), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_district_code"), ["district_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_grid_code"), ["grid_code"], unique=False)

    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("territory_code", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("credit_code", sa.String(length=18), nullable=True))
        batch_op.create_index(batch_op.f("ix_units_credit_code"), ["credit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_units_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_units_territory_code"), ["territory_code"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_code", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("area_code")

    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_territory_code"))
        batch_op.drop_index(batch_op.f("ix_units_level"))
        batch_op.drop_index(batch_op.f("ix_units_credit_code"))
        batch_op.drop_column("credit_code")
        batch_op.drop_column("territory_code")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_grid_code"))
        batch_op.drop_index(batch_op.f("ix_cases_district_code"))
        batch_op.drop_column("part_code")
        batch_op.drop_column("location_desc")
        batch_op.drop_column("grid_code")
        batch_op.drop_column("community_code")
        batch_op.drop_column("street_code")
        batch_op.drop_column("district_code")

    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_patrol_area_id"))
        batch_op.drop_index(batch_op.f("ix_grids_community_id"))

    op.drop_table("grids")
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rules_unit_id"))

    op.drop_table("routing_rules")
    with op.batch_alter_table("patrol_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_areas_collector_id"))

    op.drop_table("patrol_areas")
    with op.batch_alter_table("territories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_territories_parent_id"))
        batch_op.drop_index(batch_op.f("ix_territories_level"))

    op.drop_table("territories")
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.drop_index("ix_parts_lat_lon")
        batch_op.drop_index(batch_op.f("ix_parts_grid_code"))
        batch_op.drop_index(batch_op.f("ix_parts_category_code"))

    op.drop_table("parts")
    with op.batch_alter_table("landmarks", schema=None) as batch_op:
        batch_op.drop_index("ix_landmarks_lat_lon")

    op.drop_table("landmarks")
    op.drop_table("dispatch_policies")
    op.drop_table("area_revisions")
