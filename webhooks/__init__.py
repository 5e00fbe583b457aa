"""Integrator webhooks: endpoint registration and signed, ordered, at-least-once delivery.

Import what you need from its module (e.g. `webhooks.outbox`): the package
itself loads nothing, so code that needs only an interface does not pull in the rest.
"""
