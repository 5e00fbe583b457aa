"""cards: tenant templates and their immutable versions

Revision ID: cards_0001
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "cards_0001"
down_revision = "0001"
branch_labels = ("cards",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_templates_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_templates_tenant_id_name")),
    )
    op.create_table(
        "template_versions",
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=True),
        sa.Column("traffic_type", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"],
                                name=op.f("fk_template_versions_template_id_templates")),
        sa.PrimaryKeyConstraint("template_id", "version", name=op.f("pk_template_versions")),
    )


def downgrade() -> None:
    op.drop_table("template_versions")
    op.drop_table("templates")
