"""Dispatch: runs each accepted message through its life.

It claims due messages, decides RCS or SMS, sends through the tenant's RCS channel
(`rcs.maap.RcsChannel`) or the SMS route (`fallback.route.SmsRoute`), revokes at TTL, retries
with backoff, and turns what the operators report back into lifecycle changes (`messages`).
"""

from dispatch.dispatcher import Dispatcher, DispatchOptions
from dispatch.jobs import Job
from dispatch.retry import RetryPolicy

__all__ = ["DispatchOptions", "Dispatcher", "Job", "RetryPolicy"]
