"""reviews: room for the operator's audit states of a review item (pending_operator,
operator_approved, operator_rejected)

Revision ID: reviews_0001
Revises: compliance_0001 (a branch of its own off it)
"""

import sqlalchemy as sa
from alembic import op

revision = "reviews_0001"
down_revision = "compliance_0001"
branch_labels = ("reviews",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as table:
        table.alter_column("state", type_=sa.String(length=24), existing_type=sa.String(length=16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("review_items") as table:
        table.alter_column("state", type_=sa.String(length=16), existing_type=sa.String(length=24), existing_nullable=False)
