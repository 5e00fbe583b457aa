"""A message's statuses and the one table of transitions between them.

Every status change anywhere in the platform is checked against `TRANSITIONS`: a change the
table does not allow is refused (its event may still be recorded, e.g. an RCS delivery that
arrives after the SMS went out). The names are the API's, spelled exactly so.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """Where a message is in its life (the `status` of the API and of `message.status` webhooks)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    HELD = "held"
    QUEUED = "queued"
    RCS_SENT = "rcs_sent"
    RCS_DELIVERED = "rcs_delivered"
    RCS_READ = "rcs_read"
    REVOKED = "revoked"
    FALLBACK_PENDING = "fallback_pending"
    SMS_SENT = "sms_sent"
    SMS_DELIVERED = "sms_delivered"
    SMS_FAILED = "sms_failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"


S = Status

# status → the statuses it may move to. `queued → queued` is a retry (a new due time and
# attempt count); `revoked` only ever leads on to the fallback or to the end. A send that falls
# due outside its send window waits for the window's next opening: `queued → scheduled` before
# anything went over RCS, `fallback_pending → fallback_pending` (a new due time) for the SMS.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # A cancel before anything was sent ends a message `revoked` (so does a revoke at the operator).
    S.ACCEPTED: frozenset({S.QUEUED, S.REJECTED, S.FAILED, S.REVOKED}),
    S.SCHEDULED: frozenset({S.QUEUED, S.REJECTED, S.FAILED, S.REVOKED}),
    # Held for a reviewer (content matched a `review` word category): approved, it goes on as
    # if just accepted (scheduled when its send time is still ahead); rejected, it ends with the
    # reviewer's reason; a cancel revokes it. The dispatcher never claims it (no due time).
    S.HELD: frozenset({S.ACCEPTED, S.SCHEDULED, S.REJECTED, S.REVOKED}),
    S.QUEUED: frozenset(
        {
            S.QUEUED,
            S.SCHEDULED,
            S.RCS_SENT,
            S.RCS_DELIVERED,
            S.RCS_READ,
            S.REVOKED,
            S.FALLBACK_PENDING,
            S.REJECTED,
            S.FAILED,
            S.EXPIRED,
        }
    ),
    S.RCS_SENT: frozenset({S.RCS_DELIVERED, S.RCS_READ, S.REVOKED, S.FALLBACK_PENDING, S.FAILED, S.EXPIRED}),
    S.RCS_DELIVERED: frozenset({S.RCS_READ}),
    S.REVOKED: frozenset({S.FALLBACK_PENDING, S.EXPIRED}),
    S.FALLBACK_PENDING: frozenset(
        # `expired`: a frequency cap would hold the SMS past its TTL (see dispatch/dispatcher.py).
        {S.FALLBACK_PENDING, S.SMS_SENT, S.SMS_DELIVERED, S.SMS_FAILED, S.REJECTED, S.FAILED, S.REVOKED, S.EXPIRED}
    ),
    S.SMS_SENT: frozenset({S.SMS_DELIVERED, S.SMS_FAILED}),
    S.RCS_READ: frozenset(),
    S.SMS_DELIVERED: frozenset(),
    S.SMS_FAILED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.FAILED: frozenset(),
}

# The statuses a message is born with (POST /v1/messages): sent now, later, held for review,
# or refused at once.
INITIAL = frozenset({S.ACCEPTED, S.SCHEDULED, S.HELD, S.REJECTED})

# Nothing more is sent for a message in one of these (an RCS read may still follow a delivery).
FINAL = frozenset(s for s, after in TRANSITIONS.items() if not after) | {S.RCS_DELIVERED}

# Waiting for the dispatcher to send: first over RCS, or (fallback_pending) by SMS.
TO_SEND = frozenset({S.ACCEPTED, S.SCHEDULED, S.QUEUED})
# An SMS left our hands: a reply to the number belongs to the newest such message.
SMS_STATUSES = frozenset({S.SMS_SENT, S.SMS_DELIVERED, S.SMS_FAILED})


def allowed(current: str, new: str) -> bool:
    """Whether a message in `current` may move to `new`."""
    return Status(new) in TRANSITIONS[Status(current)]


def may_reach(new: Status) -> frozenset[Status]:
    """Every status from which a message may move to `new`."""
    return frozenset(s for s, after in TRANSITIONS.items() if new in after)
