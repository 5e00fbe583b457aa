"""audiences: contact imports as background jobs (the upload stored in parts, a lease, the
position reached) and XLSX uploads

Revision ID: audiences_0002
Revises: audiences_0001
"""

from alembic import op
import sqlalchemy as sa


revision = "audiences_0002"
down_revision = "audiences_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_imports") as batch:
        batch.add_column(sa.Column("format", sa.String(length=8), server_default="csv", nullable=False))
        batch.add_column(sa.Column("size_bytes", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("header", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("position", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("line", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("total", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until_ms", sa.BigInteger(), nullable=True))
    # An import still `running` streamed inside a request that is gone: it stopped there.
    jobs = sa.table("contact_imports", sa.column("status"), sa.column("error"))
    op.execute(
        jobs.update()
        .where(jobs.c.status == "running")
        .values(status="failed", error="the upload stopped before the end of the file")
    )
    op.create_index("ix_contact_imports_status", "contact_imports", ["status", "lease_until_ms"])
    op.create_table(
        "contact_import_parts",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_contact_import_parts")),
    )


def downgrade() -> None:
    op.drop_table("contact_import_parts")
    op.drop_index("ix_contact_imports_status", table_name="contact_imports")
    with op.batch_alter_table("contact_imports") as batch:
        for name in ("lease_until_ms", "lease_owner", "total", "line", "position", "header", "size_bytes", "format"):
            batch.drop_column(name)
