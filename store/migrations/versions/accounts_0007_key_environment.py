"""accounts: API keys get an environment ("live", or "test": sent only to the simulators)

Revision ID: accounts_0007
Revises: accounts_0006
"""
from alembic import op
import sqlalchemy as sa


revision = "accounts_0007"
down_revision = "accounts_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("environment", sa.String(length=8), nullable=False, server_default="live"))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("environment")
