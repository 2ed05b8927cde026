"""API keys: the api_keys table.

A key is stored as its public id, a short lookup prefix of the secret (unique, indexed) and
``secret_hash``, the hex SHA-256 of the whole secret; the secret itself is never stored.

Why a fast, unsalted hash and not bcrypt/scrypt/argon2: those exist to slow down guessing of
*low-entropy* secrets (passwords). Our secrets are 32 random bytes (256 bits), so guessing is
hopeless at any hash speed, and a precomputed table cannot cover that space, so a salt would
add nothing. A slow KDF would instead cost tens of milliseconds of CPU on every authenticated
request. SHA-256 keeps a leaked database useless to an attacker and authentication cheap.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_used_at", sa.Double(), nullable=True),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"], unique=True)
    op.create_index("ix_api_keys_tenant_created", "api_keys", ["tenant", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_tenant_created", table_name="api_keys")
    op.drop_index("ix_api_keys_prefix", table_name="api_keys")
    op.drop_table("api_keys")
