"""The message ledger: accepting sends durably, their statuses and event history."""
from messages.ledger import MessageLedger
from messages.request import SendRequest, normalise_number, parse_send_request
from messages import openapi as _openapi  # noqa: F401  (registers the API description)

__all__ = ["MessageLedger", "SendRequest", "normalise_number", "parse_send_request"]
