"""security: the evidence log becomes an RFC 6962 Merkle tree with signed tree heads

Revision ID: security_0003
Revises: security_0002

Records already written (format v1, a hash chain) keep verifying; the appender adds them to
their tenant's tree (`tree_size` catches up with `next_seq`) before the records written from now
on (format v2), and moves each one's unkeyed content digest out of its facts into `content_enc`,
sealed (it needs the keys, which a migration does not have).
"""
from alembic import op
import sqlalchemy as sa

revision = "security_0003"
down_revision = "security_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_enc", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("evidence_heads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tree_size", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column("frontier", sa.LargeBinary(), nullable=True))
    op.create_table(
        "evidence_tree_heads",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "tree_size", name=op.f("pk_evidence_tree_heads")),
    )
    op.create_table(
        "evidence_nodes",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "level", "idx", name=op.f("pk_evidence_nodes")),
    )
    op.create_table(
        "evidence_signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_evidence_signing_keys")),
    )


def downgrade() -> None:
    op.drop_table("evidence_signing_keys")
    op.drop_table("evidence_nodes")
    op.drop_table("evidence_tree_heads")
    with op.batch_alter_table("evidence_heads", schema=None) as batch_op:
        batch_op.drop_column("frontier")
        batch_op.drop_column("tree_size")
    with op.batch_alter_table("evidence_records", schema=None) as batch_op:
        batch_op.drop_column("content_enc")
