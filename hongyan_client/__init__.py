"""An async Python client for the Hongyan API: send a message or a batch, get one, list them page
by page, cancel one, and verify a webhook. Standalone (aiohttp and cryptography only, nothing of
the server), checked against the server's OpenAPI document by the repository's tests.

    async with Hongyan("hy_live_…", "https://hongyan.example.cn") as hy:
        accepted = await hy.send("+8613800138001", card=card)
        async for message in hy.messages(batch_id=accepted.batch_id):
            print(message["status"])

Sends carry an Idempotency-Key (one per call, kept across its retries), so a send retried after
a timeout, a 429 or a 5xx is never accepted twice.
"""

from hongyan_client.client import Accepted, ApiError, Hongyan
from hongyan_client.webhooks import WebhookError, verify_webhook

__all__ = ["Accepted", "ApiError", "Hongyan", "WebhookError", "verify_webhook"]
