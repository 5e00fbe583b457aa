"""accounts: people (users) with a role per tenant, their web sessions, the append-only audit
log (the database refuses UPDATE and DELETE on it), and the `users` scope for keys that held
every scope

Revision ID: accounts_0004
Revises: accounts_0003
"""
from alembic import op
import sqlalchemy as sa


revision = "accounts_0004"
down_revision = "accounts_0003"
branch_labels = None
depends_on = None

FULL_SCOPES_BEFORE = "cards channels compliance keys messages reviews templates webhooks"
FULL_SCOPES_AFTER = "cards channels compliance keys messages reviews templates users webhooks"
REFUSE = "audit_log is append-only"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("password_token_hash", sa.LargeBinary(), nullable=True),
        sa.Column("password_token_expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("totp_master_key_id", sa.String(length=64), nullable=True),
        sa.Column("totp_wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("uq_users_login", "users", ["login"], unique=True)
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_memberships_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("user_id", "tenant_id", name=op.f("pk_memberships")),
    )
    op.create_index("ix_memberships_tenant", "memberships", ["tenant_id", "user_id"])
    op.create_table(
        "user_sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_user_sessions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_user_sessions")),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_index("ix_user_sessions_expires", "user_sessions", ["expires_ms"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_display", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_tenant", "audit_log", ["tenant_id", "id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["tenant_id", "actor_id", "id"])
    op.create_index("ix_audit_log_action", "audit_log", ["tenant_id", "action", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END"
            )
    # Keys that held every scope gain `users` (the way compliance_0001 gave them `reviews`);
    # read in Python so that the order of the branches' migrations does not matter.
    conn = op.get_bind()
    keys = sa.table("api_keys", sa.column("id"), sa.column("scopes"))
    full = set(FULL_SCOPES_BEFORE.split())
    for key_id, scopes in conn.execute(sa.select(keys.c.id, keys.c.scopes)).all():
        held = set(scopes.split())
        if full <= held and "users" not in held:
            conn.execute(keys.update().where(keys.c.id == key_id).values(scopes=" ".join(sorted(held | {"users"}))))


def downgrade() -> None:
    op.execute(f"UPDATE api_keys SET scopes = '{FULL_SCOPES_BEFORE}' WHERE scopes = '{FULL_SCOPES_AFTER}'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_refuse()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    for index, table in (
        ("ix_audit_log_action", "audit_log"),
        ("ix_audit_log_actor", "audit_log"),
        ("ix_audit_log_tenant", "audit_log"),
        ("ix_user_sessions_expires", "user_sessions"),
        ("ix_user_sessions_user", "user_sessions"),
        ("ix_memberships_tenant", "memberships"),
        ("uq_users_login", "users"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("audit_log", "user_sessions", "memberships", "users"):
        op.drop_table(table)
