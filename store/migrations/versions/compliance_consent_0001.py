"""compliance: consent records and their chained grants/withdrawals; the opt-out list keeps
the sealed number, an id and who added it; the compliance policy's consent and unsubscribe
settings

Revision ID: compliance_consent_0001
Revises: compliance_0001 (and needs 0002, the opt-out list)

Opt-outs recorded before keep only their blind index: their `to_enc` stays NULL (the API shows
`to: null`). Each is given an id, so that it can be named in the API.
"""
import uuid

from alembic import op
import sqlalchemy as sa


revision = "compliance_consent_0001"
down_revision = "compliance_0001"
branch_labels = None
depends_on = "0002"


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("to_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("to_enc", sa.LargeBinary(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("granted_ms", sa.BigInteger(), nullable=False),
        sa.Column("proof_enc", sa.LargeBinary(), nullable=True),
        sa.Column("withdrawn_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_consents_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_tenant_bidx", "consents", ["tenant_id", "to_bidx"])
    op.create_index("ix_consents_tenant_id", "consents", ["tenant_id", "id"])
    op.create_table(
        "consent_events",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_consent_events")),
    )
    op.create_index("ix_consent_events_subject", "consent_events", ["subject"])
    with op.batch_alter_table("compliance_policies") as batch:
        batch.add_column(
            sa.Column("marketing_requires_consent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("unsubscribe_text", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("consent_keywords", sa.JSON(), nullable=True))
    with op.batch_alter_table("opt_outs") as batch:
        batch.add_column(sa.Column("id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("to_enc", sa.LargeBinary(), nullable=True))
    opt_outs = sa.table("opt_outs", sa.column("tenant_id"), sa.column("to_bidx"), sa.column("id"))
    conn = op.get_bind()
    for row in conn.execute(sa.select(opt_outs.c.tenant_id, opt_outs.c.to_bidx)).all():
        conn.execute(
            opt_outs.update()
            .where(opt_outs.c.tenant_id == row.tenant_id, opt_outs.c.to_bidx == row.to_bidx)
            .values(id=uuid.uuid4().hex)
        )
    op.create_index("uq_opt_outs_id", "opt_outs", ["id"], unique=True)
    op.create_index("ix_opt_outs_tenant_id", "opt_outs", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_opt_outs_tenant_id", table_name="opt_outs")
    op.drop_index("uq_opt_outs_id", table_name="opt_outs")
    with op.batch_alter_table("opt_outs") as batch:
        batch.drop_column("to_enc")
        batch.drop_column("id")
    with op.batch_alter_table("compliance_policies") as batch:
        batch.drop_column("consent_keywords")
        batch.drop_column("unsubscribe_text")
        batch.drop_column("marketing_requires_consent")
    op.drop_index("ix_consent_events_subject", table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_index("ix_consents_tenant_id", table_name="consents")
    op.drop_index("ix_consents_tenant_bidx", table_name="consents")
    op.drop_table("consents")
