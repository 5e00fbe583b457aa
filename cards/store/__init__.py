"""Tenant card templates: named, versioned, each version immutable once created."""
from cards.store.service import TEMPLATES, TemplateStore, TemplateVersion
from cards.store.http import routes
from cards.store import openapi as _openapi  # noqa: F401  (registers the API description)

__all__ = ["TEMPLATES", "TemplateStore", "TemplateVersion", "routes"]
