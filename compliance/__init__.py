"""Compliance: sensitive-word lists (platform and per tenant, with categories and a whitelist)
matched in one Aho-Corasick pass over normalised text, the consoles' template rules, and the
review queue that held messages, templates and signatures wait in.

Above cards/ (it screens card documents) and below messages/ (which screens every send with it
and holds what a reviewer must see); it knows nothing of messages: deciding an item runs the
applier its kind registered (`ReviewQueue.appliers`).
"""
