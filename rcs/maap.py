"""The RCS channel: the interface every operator module implements (one module per operator
interface, registered in `rcs.operators.OPERATORS`), and what it is given to send. The
dispatcher talks to operators only through this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rcs.results import Capability, MediaFile, SendResult

BOT_MESSAGE_TYPE = "application/vnd.gsma.botmessage.v1.0+json"
SUGGESTION_LIST_TYPE = "application/vnd.gsma.botsuggestion.v1.0+json"
SUGGESTION_RESPONSE_TYPE = "application/vnd.gsma.botsuggestion.response.v1.0+json"
PUSH_LOCATION_TYPE = "application/vnd.gsma.rcspushlocation+xml"
FILE_TRANSFER_TYPE = "application/vnd.gsma.rcs-ft-http+xml"
TEXT_TYPE = "text/plain"

# reportRequest values of the CSP interface; we ask for all of them.
ALL_REPORTS = ("sent", "failed", "delivered", "displayed", "deliveredToNetwork")


@dataclass(frozen=True, slots=True)
class ContentPart:
    """One entry of messageList: the content type and its text (card JSON already serialised)."""

    content_type: str
    content_text: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One RCS message to one recipient (the CSP interface takes one recipient per request)."""

    message_id: str  # ours; the MaaP echoes it in every status
    to: str  # E.164, e.g. +8613800001231
    parts: tuple[ContentPart, ...]
    conversation_id: str
    contribution_id: str
    traffic_type: str = "advertisement"  # or "notification", per the chatbot's approval
    service_capability: tuple[dict, ...] = ({"capabilityId": "ChatbotSA", "version": '+g.gsma.rcs.botversion="#=1"'},)
    store_supported: bool = True  # let the MaaP store for offline terminals (failed code 4)
    report_request: tuple[str, ...] = ALL_REPORTS
    extra: dict = field(default_factory=dict)


@runtime_checkable
class RcsChannel(Protocol):
    """A chatbot's channel to an operator's MaaP (or to the simulator speaking its interface)."""

    name: str

    async def send(self, message: OutboundMessage) -> SendResult:
        """Submit one message; the answer is synchronous, statuses arrive as callbacks."""
        ...

    async def revoke(self, message_id: str, to: str) -> SendResult:
        """Ask to withdraw an undelivered message; revokeOk / revokeFail arrives as a callback."""
        ...

    async def upload_media(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        thumbnail: tuple[bytes, str, str] | None = None,
        temporary: bool = True,
    ) -> MediaFile:
        """Upload a file (and its thumbnail: data, content type, file name) before sending it."""
        ...

    async def check_capability(self, number: str) -> Capability:
        """Whether one E.164 number can receive RCS business messages now."""
        ...

    async def check_capabilities(self, numbers: Sequence[str]) -> dict[str, Capability]:
        """Batch capability check; every number given gets an answer."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


Maap = RcsChannel  # the name operator modules and tests have used
