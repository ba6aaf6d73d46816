"""an index on the unit grids' centres, for the console map's grids of the visible box

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_grids_center_lat_lon", "grids", ["center_lat", "center_lon"])


def downgrade() -> None:
    op.drop_index("ix_grids_center_lat_lon", table_name="grids")
