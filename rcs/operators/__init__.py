"""Operator MaaP modules, registered explicitly by name."""

from rcs.operators.cn_csp import CnCspMaap, CnCspSettings, MediaUploadError, TokenError

OPERATORS: dict[str, type] = {
    "cn_csp": CnCspMaap,
}

__all__ = ["OPERATORS", "CnCspMaap", "CnCspSettings", "MediaUploadError", "TokenError"]
