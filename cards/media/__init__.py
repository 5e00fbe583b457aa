"""Tenant media: uploaded images made safe for cards (sniffed, stripped, re-encoded, thumbnailed),
stored in the database and served at public, unguessable URLs."""

from cards.media.images import ImageRejected, process_image
from cards.media.service import MediaStore

__all__ = ["ImageRejected", "MediaStore", "process_image"]
