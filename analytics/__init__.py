"""Conversions the brands report, and the funnel of their sends (analytics over the message
tables, computed in the database)."""
