"""audiences: contacts (sealed number, blind index unique per tenant), their attributes and
tags as rows, contact import jobs, segments; the `audiences` scope for keys that held every scope

Revision ID: audiences_0001
Revises: privacy_0001
"""

from alembic import op
import sqlalchemy as sa

from store.migrations.scopes import drop_scopes, grant_scope


revision = "audiences_0001"
down_revision = "privacy_0001"
branch_labels = ("audiences",)
depends_on = None

# Every scope there was before this one: keys holding all of them hold everything, and gain
# `audiences` (keys someone narrowed keep what they had).
FULL_BEFORE = {
    "cards",
    "channels",
    "compliance",
    "keys",
    "messages",
    "privacy",
    "reviews",
    "templates",
    "users",
    "webhooks",
}


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("number_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("attributes_enc", sa.LargeBinary(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_contacts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index("uq_contacts_tenant_bidx", "contacts", ["tenant_id", "number_bidx"], unique=True)
    op.create_index("ix_contacts_tenant_id", "contacts", ["tenant_id", "id"])
    op.create_table(
        "contact_attributes",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("text_value", sa.String(length=500), nullable=False),
        sa.Column("num_value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_attributes_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("contact_id", "name", name=op.f("pk_contact_attributes")),
    )
    op.create_index(
        "ix_contact_attributes_text", "contact_attributes", ["tenant_id", "name", "text_value", "contact_id"]
    )
    op.create_index("ix_contact_attributes_num", "contact_attributes", ["tenant_id", "name", "num_value", "contact_id"])
    op.create_table(
        "contact_tags",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_contact_tags_contact_id_contacts")),
        sa.PrimaryKeyConstraint("contact_id", "tag", name=op.f("pk_contact_tags")),
    )
    op.create_index("ix_contact_tags_tenant_tag", "contact_tags", ["tenant_id", "tag", "contact_id"])
    op.create_table(
        "contact_imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_contact_imports_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_imports")),
    )
    op.create_index("ix_contact_imports_tenant_id", "contact_imports", ["tenant_id", "id"])
    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_segments_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    op.create_index("ix_segments_tenant_id", "segments", ["tenant_id", "id"])
    grant_scope(op.get_bind(), "audiences", FULL_BEFORE)


def downgrade() -> None:
    drop_scopes(op.get_bind(), "audiences")
    op.drop_index("ix_segments_tenant_id", table_name="segments")
    op.drop_table("segments")
    op.drop_index("ix_contact_imports_tenant_id", table_name="contact_imports")
    op.drop_table("contact_imports")
    op.drop_index("ix_contact_tags_tenant_tag", table_name="contact_tags")
    op.drop_table("contact_tags")
    op.drop_index("ix_contact_attributes_num", table_name="contact_attributes")
    op.drop_index("ix_contact_attributes_text", table_name="contact_attributes")
    op.drop_table("contact_attributes")
    op.drop_index("ix_contacts_tenant_id", table_name="contacts")
    op.drop_index("uq_contacts_tenant_bidx", table_name="contacts")
    op.drop_table("contacts")
