"""Editor sign-in sessions. Only a SHA-256 of the session id is stored (the cookie holds the
id itself), so a copy of the table cannot be replayed as cookies. Times are Unix milliseconds."""

from sqlalchemy import BigInteger, Column, ForeignKey, LargeBinary, String, Table, Text

from store.tables import metadata

editor_sessions = Table(
    "editor_sessions",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False, index=True),
    # The API key signed in with: revoking it ends the session (checked on every use).
    Column("api_key_id", String(64), ForeignKey("api_keys.id"), nullable=False, index=True),
    # Returned to the signed-in page (not a secret from it); it proves a request came from there.
    Column("csrf_token", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    # The absolute end (created + 24 h); the idle end is last_seen + 8 h.
    Column("expires_ms", BigInteger, nullable=False, index=True),
)
