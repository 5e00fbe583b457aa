"""Tenant card templates: named, versioned, each version immutable once created."""

from cards.store.service import TemplateStore, TemplateVersion

__all__ = ["TemplateStore", "TemplateVersion"]
