"""cards: uploaded media (images and thumbnails, stored in the database)

Revision ID: cards_0003
Revises: cards_0002
"""
from alembic import op
import sqlalchemy as sa

revision = "cards_0003"
down_revision = "cards_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("thumb_content_type", sa.String(length=32), nullable=False),
        sa.Column("thumb_data", sa.LargeBinary(), nullable=False),
        sa.Column("thumb_file_size", sa.Integer(), nullable=False),
        sa.Column("thumb_width", sa.Integer(), nullable=False),
        sa.Column("thumb_height", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_media_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("tenant_id", "sha256", name=op.f("uq_media_tenant_id_sha256")),
    )
    op.create_index("ix_media_tenant_id_created_ms", "media", ["tenant_id", "created_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_media_tenant_id_created_ms", table_name="media")
    op.drop_table("media")
