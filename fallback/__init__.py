"""SMS fallback: segmentation, composition, SMPP client, SMSC simulator and carrier routing."""
from fallback.client import (
    InboundSms,
    MessageOutcome,
    PartState,
    SmppClient,
    SmppError,
    SubmitResult,
)
from fallback.compose import ComposeError, compose_sms, is_opt_out_reply
from fallback.http import routes
from fallback.segmentation import Part, Segmentation, SegmentationError, segment_sms
from fallback.smsc import SmscSimulator

__all__ = [
    "ComposeError",
    "InboundSms",
    "MessageOutcome",
    "Part",
    "PartState",
    "Segmentation",
    "SegmentationError",
    "SmppClient",
    "SmppError",
    "SmscSimulator",
    "SubmitResult",
    "compose_sms",
    "is_opt_out_reply",
    "routes",
    "segment_sms",
]
