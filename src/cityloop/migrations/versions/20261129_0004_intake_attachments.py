"""api keys, devices, reports, machine thresholds, dedup rules, attachments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Every way in: API keys of other systems (Open311 clients, the 12345 platform, devices), the device registry,
one row per report from any channel (idempotent per origin and external id), confidence thresholds and
dedup rules, photos; cases gain their report count, last report time and a public flag; classes gain the
public-intake flag that makes them Open311 services.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dedup_rules",
        sa.Column("category_code", sa.String(length=8), nullable=False),
        sa.Column("radius_m", sa.Double(), nullable=False),
        sa.Column("window_min", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("category_code", name=op.f("pk_dedup_rules")),
    )
    op.create_table(
        "machine_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=8), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("auto_at", sa.Double(), nullable=False),
        sa.Column("review_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_thresholds")),
        sa.UniqueConstraint("category_code", "algorithm", name=op.f("uq_machine_thresholds_category_code_algorithm")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_api_keys_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "video_ai",
                "drone",
                "vehicle_camera",
                "iot_sensor",
                name="device_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("vendor", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("algorithm_version", sa.String(length=32), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("alarm_threshold", sa.Double(), nullable=True),
        sa.Column("alarm_category_code", sa.String(length=5), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_devices_api_key_id_api_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_devices_api_key_id")),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "staff",
                "public",
                "hotline",
                "open311",
                "device",
                name="report_channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("part", "event", name="report_kind", native_enum=False, create_constraint=True, length=8),
            nullable=False,
        ),
        sa.Column("category_code", sa.String(length=8), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("algorithm", sa.String(length=100), nullable=True),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "created",
                "merged",
                "queued",
                "dropped",
                "rejected",
                name="report_outcome",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "review",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                name="report_review",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("contact", sa.JSON(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_reports_api_key_id_api_keys")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_reports_case_id_cases")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_reports_device_id_devices")),
        sa.ForeignKeyConstraint(["parent_id"], ["reports.id"], name=op.f("fk_reports_parent_id_reports")),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], name=op.f("fk_reports_reporter_id_users")),
        sa.ForeignKeyConstraint(["reviewed_by"], ["users.id"], name=op.f("fk_reports_reviewed_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("origin", "external_id", name=op.f("uq_reports_origin_external_id")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_received_at"), ["received_at"], unique=False)
    for name, columns, where, unique in (
        ("ix_reports_review_pending", ["category_code"], "review = 'pending'", False),
        ("ix_reports_parent_id", ["parent_id"], "parent_id IS NOT NULL", False),
        ("ix_reports_reporter_id", ["reporter_id"], "reporter_id IS NOT NULL", False),
        ("uq_reports_token_hash", ["token_hash"], "token_hash IS NOT NULL", True),
    ):
        op.create_index(name, "reports", columns, unique=unique, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "report",
                "verify",
                "before",
                "after",
                "check",
                name="attachment_stage",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("thumb_key", sa.String(length=200), nullable=False),
        sa.Column("original_name", sa.String(length=200), nullable=False),
        sa.Column("gps_lat", sa.Double(), nullable=True),
        sa.Column("gps_lon", sa.Double(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_attachments_case_id_cases")),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_attachments_report_id_reports")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_attachments_uploaded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("public_id", name=op.f("uq_attachments_public_id")),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachments_report_id"), ["report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachments_sha256"), ["sha256"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_count", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("last_report_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("public", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index(
            "ix_cases_category_code_last_report_at", ["category_code", "last_report_at"], unique=False
        )

    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_intake", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("public_intake")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_category_code_last_report_at")
        batch_op.drop_column("public")
        batch_op.drop_column("last_report_at")
        batch_op.drop_column("report_count")

    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_sha256"))
        batch_op.drop_index(batch_op.f("ix_attachments_report_id"))
        batch_op.drop_index(batch_op.f("ix_attachments_case_id"))

    op.drop_table("attachments")
    for name in ("uq_reports_token_hash", "ix_reports_reporter_id", "ix_reports_parent_id",
                 "ix_reports_review_pending"):
        op.drop_index(name, table_name="reports")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_received_at"))
        batch_op.drop_index(batch_op.f("ix_reports_case_id"))

    op.drop_table("reports")
    op.drop_table("devices")
    op.drop_table("api_keys")
    op.drop_table("machine_thresholds")
    op.drop_table("dedup_rules")
