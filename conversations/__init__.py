"""Conversations: every recipient's replies, taps and SMS answers gathered per brand and
number, answered by rules, a knowledge base or a person in the inbox."""
