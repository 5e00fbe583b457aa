"""A send request made ready for accept, the same for every door it comes in by (the API's
`POST /v1/messages`, a campaign's pages): a file message completed from the media library, the
card or template checked with every recipient's variables, the text screened against the word
lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from api.problems import FieldError, Problem
from compliance.screen import Screen
from messages.ledger import CardCheck
from messages.request import SendRequest
from messages.screening import Hold, screen_request

# tenant id, media id → the tenant's media (cards.media.MediaStore view), or None
MediaLookup = Callable[[str, str], Awaitable[dict | None]]


@dataclass
class SendChecks:
    """What a request passes before accept; a part that is None is not checked (a server
    without a word-list screen screens nothing)."""

    card_check: CardCheck | None = None
    screen: Screen | None = None
    media_lookup: MediaLookup | None = None

    async def prepare(self, req: SendRequest, tenant_id: str) -> Hold | None:
        """Raise the 422 naming every bad field (or a blocked word); return what to hold for a
        reviewer, None when nothing is held."""
        if req.file_media_id is not None and not req.errors:
            lookup = self.media_lookup
            media = await lookup(tenant_id, req.file_media_id) if lookup is not None else None
            if media is None:
                req.errors.append(FieldError("/file/media_id", "no such media in your library (POST /v1/media)"))
            else:
                req.attach_file(media)
        if self.card_check is not None and not req.errors:
            req.errors.extend(await self.card_check(req, tenant_id))
        if req.errors:
            raise Problem(422, f"{len(req.errors)} field(s) are invalid", req.errors)
        return await screen_request(self.screen, req, tenant_id)
