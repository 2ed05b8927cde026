"""Run leases: who drives an unfinished run, and until when.

``lease_owner`` is the id of the process driving the run (``host:pid:nonce``, empty when
nobody does) and ``lease_expires`` the epoch seconds at which the lease lapses unless the
owner renews it (heartbeats). A process takes a lease with one conditional ``UPDATE`` (free,
expired, or already its own), so two processes never drive the same run. Existing rows get
an empty lease: a run left ``running`` by an older version is free to resume.

``ix_runs_parent`` finds the child runs of a run being resumed, which are reused rather than
started again.

Revision ID: 0004
Revises: 0003
Create Date: 2025-03-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("lease_expires", sa.Double(), nullable=False, server_default="0")
        )
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])


def downgrade() -> None:
    op.drop_index("ix_runs_parent", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_expires")
        batch.drop_column("lease_owner")
