"""rules: a cap reservation names its send's segment, so the caps can be checked again when the
send moves after accept

Revision ID: rules_0002
Revises: rules_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "rules_0002"
down_revision = "rules_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reservations taken before this have none: they are held to their traffic type's caps.
    op.add_column("cap_sends", sa.Column("segment", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("cap_sends", "segment")
