"""privacy: retention settings per tenant, erasure receipts, the purge job's lock row; the
`privacy` scope for keys that held every scope

Revision ID: privacy_0001
Revises: compliance_0001

A branch off the compliance branch's first revision, so that the scope it grants is added after
`compliance` and `reviews` (compliance_0001 matches the full scope string exactly; with
depends_on alone compliance_0001 would stay a head the version table never lists).
"""
from alembic import op
import sqlalchemy as sa


revision = "privacy_0001"
down_revision = "compliance_0001"
branch_labels = ("privacy",)
depends_on = None

# Every scope there was before this one: keys holding all of them hold everything, and gain
# `privacy` (keys someone narrowed keep what they had).
FULL_BEFORE = {"cards", "channels", "compliance", "keys", "messages", "reviews", "templates", "webhooks"}


def upgrade() -> None:
    op.create_table(
        "privacy_retention",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_privacy_retention_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_privacy_retention")),
    )
    op.create_table(
        "privacy_erasures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("subject_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_privacy_erasures_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_erasures")),
    )
    op.create_index("ix_privacy_erasures_tenant", "privacy_erasures", ["tenant_id", "id"])
    op.create_table(
        "privacy_jobs",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("cursor", sa.String(length=32), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_privacy_jobs")),
    )
    op.bulk_insert(sa.table("privacy_jobs", sa.column("name")), [{"name": "purge"}])
    conn = op.get_bind()
    keys = sa.table("api_keys", sa.column("id"), sa.column("scopes"))
    for key_id, scopes in conn.execute(sa.select(keys.c.id, keys.c.scopes)).all():
        held = set(scopes.split())
        if FULL_BEFORE <= held and "privacy" not in held:
            conn.execute(
                keys.update().where(keys.c.id == key_id).values(scopes=" ".join(sorted(held | {"privacy"})))
            )


def downgrade() -> None:
    conn = op.get_bind()
    keys = sa.table("api_keys", sa.column("id"), sa.column("scopes"))
    for key_id, scopes in conn.execute(sa.select(keys.c.id, keys.c.scopes)).all():
        held = set(scopes.split())
        if "privacy" in held:
            conn.execute(keys.update().where(keys.c.id == key_id).values(scopes=" ".join(sorted(held - {"privacy"}))))
    op.drop_table("privacy_jobs")
    op.drop_index("ix_privacy_erasures_tenant", table_name="privacy_erasures")
    op.drop_table("privacy_erasures")
    op.drop_table("privacy_retention")
