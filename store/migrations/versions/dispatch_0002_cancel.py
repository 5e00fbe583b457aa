"""dispatch: when a cancel was asked for a message in flight

Revision ID: dispatch_0002
Revises: dispatch_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "dispatch_0002"
down_revision = "dispatch_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dispatch_state", sa.Column("cancel_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("dispatch_state", "cancel_ms")
