"""Billing: a price book per tenant, an append-only money ledger that charges a message only
when it is delivered (holds at accept, refunds on failure), balances and credit limits, and
monthly statements."""

from billing.service import Billing

__all__ = ["Billing"]
