"""accounts: one-time TOTP recovery codes (argon2id hashes), given when TOTP is turned on

Revision ID: accounts_0005
Revises: accounts_0004
"""
from alembic import op
import sqlalchemy as sa


revision = "accounts_0005"
down_revision = "accounts_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_recovery_codes",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("code_id", sa.String(length=8), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_recovery_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "code_id", name=op.f("pk_user_recovery_codes")),
    )


def downgrade() -> None:
    op.drop_table("user_recovery_codes")
