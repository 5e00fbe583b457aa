"""cards: template drafts, draft-only templates, version review status

Revision ID: cards_0002
Revises: cards_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "cards_0002"
down_revision = "cards_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.alter_column("latest_version", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("updated_ms", sa.BigInteger(), nullable=True))
    op.execute("UPDATE templates SET updated_ms = created_ms")
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        # Versions made before review existed were sendable: they count as approved.
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="approved"))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "template_drafts",
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=True),
        sa.Column("traffic_type", sa.String(length=16), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"],
                                name=op.f("fk_template_drafts_template_id_templates")),
        sa.PrimaryKeyConstraint("template_id", name=op.f("pk_template_drafts")),
    )


def downgrade() -> None:
    op.drop_table("template_drafts")
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_column("reviewed_ms")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
    op.execute("DELETE FROM templates WHERE latest_version IS NULL")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("updated_ms")
        batch_op.alter_column("latest_version", existing_type=sa.Integer(), nullable=False)
