"""dead_letters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("dlq_id", sa.Text(), primary_key=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("message_key", sa.LargeBinary()),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error_type", sa.Text(), nullable=False),
        sa.Column("error_reason", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text()),
        sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
        sa.Column("replay_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_dead_letters_topic_failed_at", "dead_letters", ["topic", "failed_at"])
    op.create_index("ix_dead_letters_error_type", "dead_letters", ["error_type"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_error_type", table_name="dead_letters")
    op.drop_index("ix_dead_letters_topic_failed_at", table_name="dead_letters")
    op.drop_table("dead_letters")
