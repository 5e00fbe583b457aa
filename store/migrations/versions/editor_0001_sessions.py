"""editor: sign-in sessions of the web card editor

Revision ID: editor_0001
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "editor_0001"
down_revision = "0001"
branch_labels = ("editor",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "editor_sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_editor_sessions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_editor_sessions_api_key_id_api_keys")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_editor_sessions")),
    )
    op.create_index(op.f("ix_editor_sessions_tenant_id"), "editor_sessions", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_editor_sessions_api_key_id"), "editor_sessions", ["api_key_id"], unique=False)
    op.create_index(op.f("ix_editor_sessions_expires_ms"), "editor_sessions", ["expires_ms"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_editor_sessions_expires_ms"), table_name="editor_sessions")
    op.drop_index(op.f("ix_editor_sessions_api_key_id"), table_name="editor_sessions")
    op.drop_index(op.f("ix_editor_sessions_tenant_id"), table_name="editor_sessions")
    op.drop_table("editor_sessions")
