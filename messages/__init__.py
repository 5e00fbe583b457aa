"""A message's life: accepting sends durably, the statuses and the one table of transitions
between them, the only writer of messages and their events, the evidence chain of that history."""
