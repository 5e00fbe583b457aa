"""editor: share links of template versions, the decisions made through them, and their chain

Revision ID: editor_0002
Revises: editor_0001, cards_0004

After the editor and cards branches (both down revisions: a link names a template version).
"""
from alembic import op
import sqlalchemy as sa


revision = "editor_0002"
down_revision = ("editor_0001", "cards_0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_share_links_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"], name=op.f("fk_share_links_template_id_templates")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
    )
    op.create_index("ix_share_links_template", "share_links", ["tenant_id", "template_id", "version"], unique=False)
    op.create_table(
        "share_decisions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("share_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("content_enc", sa.LargeBinary(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["share_links.id"], name=op.f("fk_share_decisions_share_id_share_links")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_share_decisions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_decisions")),
    )
    op.create_index(op.f("ix_share_decisions_share_id"), "share_decisions", ["share_id"], unique=False)
    op.create_table(
        "share_events",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("share_id", sa.String(length=32), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_share_events")),
    )
    op.create_index(op.f("ix_share_events_share_id"), "share_events", ["share_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_share_events_share_id"), table_name="share_events")
    op.drop_table("share_events")
    op.drop_index(op.f("ix_share_decisions_share_id"), table_name="share_decisions")
    op.drop_table("share_decisions")
    op.drop_index("ix_share_links_template", table_name="share_links")
    op.drop_table("share_links")
