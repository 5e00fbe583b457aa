"""Campaigns, the audience each one snapshotted at launch (one row per contact, with its A/B
variant and what was sent), the messages they sent, and triggered journeys with the occurrences
they already served. Nothing here is personal: contacts are referred to by id, messages by id;
numbers stay sealed in `contacts` and `messages`. Times are Unix ms."""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table

from store.tables import metadata

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    # draft | scheduled | running | paused | finished | cancelled
    Column("status", String(16), nullable=False),
    # Where a running campaign is: snapshot | sending | testing | resending | done
    Column("phase", String(16), nullable=False),
    # The definition as checked (campaigns.spec): template(s), segment, variants, resend, …
    Column("spec", JSON, nullable=False),
    # The segment's filter as it was at launch (the segment may change or go afterwards).
    Column("filter", JSON, nullable=True),
    Column("start_ms", BigInteger, nullable=True),
    Column("audience", Integer, nullable=False, server_default="0"),
    # The last contact id the snapshot reached (keyset), until the snapshot is done.
    Column("snapshot_after", String(32), nullable=True),
    # The next page number: a page's messages are accepted under the idempotency key
    # `campaign/<id>/page/<n>`, so a page retried after a crash is never sent twice.
    Column("next_page", Integer, nullable=False, server_default="0"),
    # The throttle's clock: sends are paced so that `n` messages move it on n / throttle s.
    Column("paced_ms", BigInteger, nullable=True),
    # When the test variants had all been sent (A/B with a winner), and the winner chosen.
    Column("tested_ms", BigInteger, nullable=True),
    Column("winner", String(16), nullable=True),
    Column("winner_detail", JSON, nullable=True),
    Column("error", String(500), nullable=True),  # why the runner paused it (credit, a template gone)
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("launched_ms", BigInteger, nullable=True),
    Column("finished_ms", BigInteger, nullable=True),
    Index("ix_campaigns_tenant_id", "tenant_id", "id"),
    Index("ix_campaigns_status", "status"),
)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("campaign_id", String(32), ForeignKey("campaigns.id"), primary_key=True),
    Column("contact_id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    # A variant's name, "holdout" (never sent: the baseline) or "rest" (waits for the winner).
    Column("variant", String(16), nullable=False),
    # pending | paged (in a page being sent) | sent | skipped | held_out
    Column("state", String(8), nullable=False),
    Column("page", Integer, nullable=True),
    Column("message_id", String(32), nullable=True),
    Column("sent_ms", BigInteger, nullable=True),
    Column("reason", String(200), nullable=True),  # why skipped
    # The smart resend: NULL (not decided yet) | paged | sent | not_needed | skipped
    Column("resend", String(12), nullable=True),
    Column("resend_page", Integer, nullable=True),
    Column("resend_ms", BigInteger, nullable=True),  # when the resend was decided
    Column("resend_message_id", String(32), nullable=True),
    Index("ix_campaign_recipients_state", "campaign_id", "state", "variant", "contact_id"),
    Index("ix_campaign_recipients_resend", "campaign_id", "resend", "sent_ms"),
)

# Every message a campaign or a journey sent, with what the funnels group it by.
campaign_messages = Table(
    "campaign_messages",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("campaign_id", String(32), nullable=False),  # a campaign's or a journey's id
    Column("tenant_id", String(32), nullable=False),
    Column("variant", String(16), nullable=False),
    Column("kind", String(8), nullable=False),  # first | resend | journey
    Column("carrier", String(8), nullable=False),  # cmcc | cucc | ctcc | other
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_campaign_messages_campaign", "campaign_id", "variant"),
)

journeys = Table(
    "journeys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # active | paused
    Column("spec", JSON, nullable=False),
    # The last local day (YYYY-MM-DD) evaluated completely.
    Column("evaluated_day", String(10), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_journeys_tenant_id", "tenant_id", "id"),
)

# One row per contact and occurrence a journey served: the idempotency of a daily evaluation.
journey_sends = Table(
    "journey_sends",
    metadata,
    Column("journey_id", String(32), ForeignKey("journeys.id"), primary_key=True),
    Column("contact_id", String(32), primary_key=True),
    Column("occurrence", String(10), primary_key=True),  # the contact's date it was for
    Column("tenant_id", String(32), nullable=False),
    Column("message_id", String(32), nullable=True),
    Column("state", String(8), nullable=False),  # paged | sent | skipped
    Column("page", String(120), nullable=True),
    Column("reason", String(200), nullable=True),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_journey_sends_page", "journey_id", "state", "page"),
)
