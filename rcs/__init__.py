"""RCS: operator MaaP clients, the MaaP simulator, callback verification and the capability cache.

DESIGN.md §3, §4, §12, §13.
"""
from rcs.callbacks import (
    CallbackEndpoints,
    CallbackFormatError,
    NonceCache,
    Verdict,
    callback_signature,
    parse_delivery_callback,
    parse_user_callback,
    signed_headers,
    verify_callback,
)
from rcs.capability import CapabilityCache
from rcs.maap import BOT_MESSAGE_TYPE, ContentPart, Maap, OutboundMessage
from rcs.operators import OPERATORS, CnCspMaap, CnCspSettings, MediaUploadError, TokenError
from rcs.results import (
    Capability,
    DeliveryEvent,
    LIFECYCLE_STATUS,
    FailedAction,
    Location,
    MediaFile,
    Outcome,
    SendResult,
    UserEvent,
    classify_code,
    classify_failed_code,
    classify_http,
)
from rcs.simulator import (
    Behaviour,
    MaapSimulator,
    RouteAccessLogger,
    SimulatorTiming,
    behaviour_of,
    capability_of,
)

__all__ = [
    "BOT_MESSAGE_TYPE", "Behaviour", "CallbackEndpoints", "CallbackFormatError", "Capability",
    "CapabilityCache", "CnCspMaap", "CnCspSettings", "ContentPart", "DeliveryEvent",
    "FailedAction", "LIFECYCLE_STATUS", "Location", "Maap", "MaapSimulator", "MediaFile", "MediaUploadError",
    "NonceCache", "OPERATORS", "Outcome", "OutboundMessage", "RouteAccessLogger", "SendResult", "SimulatorTiming",
    "TokenError", "UserEvent", "Verdict", "behaviour_of", "callback_signature", "capability_of",
    "classify_code", "classify_failed_code", "classify_http",
    "parse_delivery_callback", "parse_user_callback", "signed_headers", "verify_callback",
]
