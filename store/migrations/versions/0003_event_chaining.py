"""messages: mark which events the evidence chain holds (replaces a full scan per pass)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chained", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Events already chained (the security branch's table, when it is there already) stay so.
    if sa.inspect(op.get_bind()).has_table("evidence_records"):
        op.execute("UPDATE message_events SET chained = true WHERE id IN (SELECT event_id FROM evidence_records)")
    op.create_index("ix_message_events_unchained", "message_events", ["at_ms", "id"],
                    sqlite_where=sa.text("NOT chained"), postgresql_where=sa.text("NOT chained"))


def downgrade() -> None:
    op.drop_index("ix_message_events_unchained", table_name="message_events")
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_column("chained")
