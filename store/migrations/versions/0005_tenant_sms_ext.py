"""accounts: each tenant's SMS extension code, so replies (opt-outs) reach the right brand

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_ext", sa.String(length=6), nullable=True))
    # Existing tenants get 1001, 1002 … in the order they were created.
    op.execute(
        "UPDATE tenants SET sms_ext = CAST(1000 + (SELECT COUNT(*) FROM tenants AS earlier "
        "WHERE earlier.created_ms < tenants.created_ms "
        "OR (earlier.created_ms = tenants.created_ms AND earlier.id <= tenants.id)) AS VARCHAR(6))"
    )
    op.create_index("uq_tenants_sms_ext", "tenants", ["sms_ext"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_tenants_sms_ext", table_name="tenants")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("sms_ext")
