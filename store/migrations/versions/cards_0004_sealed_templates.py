"""cards: template contents sealed (card and sample values as content_enc)

Revision ID: cards_0004
Revises: cards_0003

Adds each version's row id, the tenant (key rotation walks sealed columns per tenant) and the
sealed content to template_versions and template_drafts, and lets the plaintext card / sample
columns be NULL. A migration has no keys, so existing rows are sealed by
`cards.store.sealing.seal_plaintext`, which `python server.py migrate` runs right after the
schema (when it has the master key) and every server runs at start; it empties the plaintext.
"""
from alembic import op
import sqlalchemy as sa

revision = "cards_0004"
down_revision = "cards_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("tenant_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("content_enc", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("card", existing_type=sa.JSON(), nullable=True)
    op.execute(
        "UPDATE template_versions SET id = template_id || '.' || CAST(version AS VARCHAR(12)), "
        "tenant_id = (SELECT templates.tenant_id FROM templates WHERE templates.id = template_versions.template_id)"
    )
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.alter_column("id", existing_type=sa.String(length=48), nullable=False)
        batch_op.alter_column("tenant_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_foreign_key(
            op.f("fk_template_versions_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"]
        )
        batch_op.create_index("uq_template_versions_id", ["id"], unique=True)
        batch_op.create_index("ix_template_versions_tenant_id", ["tenant_id", "id"], unique=False)

    with op.batch_alter_table("template_drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("content_enc", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("card", existing_type=sa.JSON(), nullable=True)
    op.execute(
        "UPDATE template_drafts SET "
        "tenant_id = (SELECT templates.tenant_id FROM templates WHERE templates.id = template_drafts.template_id)"
    )
    with op.batch_alter_table("template_drafts", schema=None) as batch_op:
        batch_op.alter_column("tenant_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_foreign_key(op.f("fk_template_drafts_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"])
        batch_op.create_index("ix_template_drafts_tenant_id", ["tenant_id", "template_id"], unique=False)


def downgrade() -> None:
    # Sealed contents cannot be opened here (no keys): a downgrade keeps only plaintext rows.
    op.execute("DELETE FROM template_drafts WHERE card IS NULL")
    with op.batch_alter_table("template_drafts", schema=None) as batch_op:
        batch_op.drop_index("ix_template_drafts_tenant_id")
        batch_op.drop_constraint(op.f("fk_template_drafts_tenant_id_tenants"), type_="foreignkey")
        batch_op.drop_column("content_enc")
        batch_op.drop_column("tenant_id")
        batch_op.alter_column("card", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_template_versions_tenant_id")
        batch_op.drop_index("uq_template_versions_id")
        batch_op.drop_constraint(op.f("fk_template_versions_tenant_id_tenants"), type_="foreignkey")
        batch_op.drop_column("content_enc")
        batch_op.drop_column("tenant_id")
        batch_op.drop_column("id")
