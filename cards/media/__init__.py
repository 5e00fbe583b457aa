"""Tenant media: uploaded images made safe for cards (sniffed, stripped, re-encoded, thumbnailed),
stored in the database and served at public, unguessable URLs."""
from cards.media.images import ImageRejected, process_image
from cards.media.service import MEDIA, MediaStore, media_for_url
from cards.media.http import routes
from cards.media import openapi as _openapi  # noqa: F401  (registers the API description)

__all__ = ["MEDIA", "ImageRejected", "MediaStore", "media_for_url", "process_image", "routes"]
