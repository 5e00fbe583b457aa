"""Alembic environment: runs on the connection handed in by store.migrate."""

from alembic import context

import accounts.tables  # noqa: F401  (registers tables on store.metadata)
import accounts.users_tables  # noqa: F401
import cards.media.tables  # noqa: F401
import cards.store.tables  # noqa: F401
import compliance.tables  # noqa: F401
import dispatch.state  # noqa: F401
import editor.share_tables  # noqa: F401
import editor.tables  # noqa: F401
import fallback.ported  # noqa: F401
import fallback.route_health  # noqa: F401
import fallback.shortlinks.tables  # noqa: F401
import messages.evidence  # noqa: F401
import messages.tables  # noqa: F401
import webhooks.tables  # noqa: F401
from store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `python server.py migrate`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
