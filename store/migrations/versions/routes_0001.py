"""routes: ported-number overrides (and the platform key they are indexed and sealed with), and
the SMS route health that dispatch processes share with API processes

Revision ID: routes_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "routes_0001"
down_revision = None
branch_labels = ("routes",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "platform_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_platform_keys")),
    )
    op.create_table(
        "ported_numbers",
        sa.Column("number_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number_index", name=op.f("pk_ported_numbers")),
    )
    op.create_table(
        "sms_route_health",
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("health", sa.JSON(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("process", "route", name=op.f("pk_sms_route_health")),
    )


def downgrade() -> None:
    op.drop_table("sms_route_health")
    op.drop_table("ported_numbers")
    op.drop_table("platform_keys")
