"""The personal-data lifecycle (PIPL): retention purges, erasure of one number's data, export.

Each domain's data is described once in a registry (`privacy.registry`): what ages out, how to
erase what belongs to one number, what to export for it. `privacy.kinds` registers the platform's
own; a domain added later (consents) registers its own kinds the same way.
"""

from privacy.registry import REGISTRY, ErasureContext, ExportContext, Registry, RetentionKind
from privacy.service import ErasureInFlight, Privacy

__all__ = ["REGISTRY", "ErasureContext", "ErasureInFlight", "ExportContext", "Privacy", "Registry", "RetentionKind"]
