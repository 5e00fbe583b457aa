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
from fallback import openapi as _openapi  # noqa: F401  (registers the API description)
from fallback.http import routes
from fallback.routing import (
    CarrierRouter,
    CarrierRoutes,
    HealthPolicy,
    NoRouteAvailable,
    PortabilityLookup,
    RouteChoice,
    RouterConfig,
    RouteSettings,
)
from fallback.segmentation import Part, Segmentation, SegmentationError, segment_sms
from fallback.sender import SentSms, SmsSender
from fallback.smsc import SmscSimulator

__all__ = [
    "CarrierRouter",
    "CarrierRoutes",
    "HealthPolicy",
    "NoRouteAvailable",
    "PortabilityLookup",
    "RouteChoice",
    "RouteSettings",
    "RouterConfig",
    "ComposeError",
    "InboundSms",
    "MessageOutcome",
    "Part",
    "PartState",
    "Segmentation",
    "SegmentationError",
    "SentSms",
    "SmsSender",
    "SmppClient",
    "SmppError",
    "SmscSimulator",
    "SubmitResult",
    "compose_sms",
    "is_opt_out_reply",
    "routes",
    "segment_sms",
]
