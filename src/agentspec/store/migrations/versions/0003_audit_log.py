"""Audit log: the audit_log table, an append-only hash chain.

``seq`` (the primary key) is the chain index: 1, 2, 3 ... without gaps. Each row stores the
previous row's ``hash`` in ``prev_hash`` and its own ``hash``, the SHA-256 over ``prev_hash``
and the row's canonical JSON (see :mod:`agentspec.audit.chain`). ``data`` holds the canonical
JSON of the payload as TEXT. ``ts`` is epoch *microseconds* (an integer: one exact JSON
spelling everywhere), indexed for exports by time. Entry ids are unique.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_audit_log_id", "audit_log", ["id"], unique=True)
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_ts", table_name="audit_log")
    op.drop_index("ix_audit_log_id", table_name="audit_log")
    op.drop_table("audit_log")
