"""webhooks: the secret an endpoint had before its last rotation, and until when it still signs

Revision ID: webhooks_0002
Revises: webhooks_0001
"""
from alembic import op
import sqlalchemy as sa


revision = "webhooks_0002"
down_revision = "webhooks_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("previous_secret_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("previous_until_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("previous_until_ms")
        batch.drop_column("previous_secret_enc")
