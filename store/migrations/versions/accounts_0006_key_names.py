"""accounts: API keys get a name and the time they were last used

Revision ID: accounts_0006
Revises: accounts_0005
"""
from alembic import op
import sqlalchemy as sa


revision = "accounts_0006"
down_revision = "accounts_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("last_used_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_ms")
        batch.drop_column("name")
