"""Contacts and audiences: a tenant's contacts (number sealed and blind-indexed, attributes,
tags, time zone), CSV import and export that stream, and segments (saved filters over
attributes, tags and messaging behaviour) evaluated as one SQL query in the database."""

from audiences.contacts import Contacts
from audiences.segments import Segments, iter_segment_members

__all__ = ["Contacts", "Segments", "iter_segment_members"]
