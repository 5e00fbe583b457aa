"""SMS fallback: segmentation, composition, SMPP client, SMSC simulator and carrier routing."""
from fallback.compose import ComposeError, compose_sms, is_opt_out_reply
from fallback.http import routes
from fallback.segmentation import Part, Segmentation, SegmentationError, segment_sms

__all__ = [
    "ComposeError",
    "Part",
    "Segmentation",
    "SegmentationError",
    "compose_sms",
    "is_opt_out_reply",
    "routes",
    "segment_sms",
]
