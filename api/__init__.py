"""The HTTP plumbing every domain's edge shares: problem+json errors, bodies, auth middleware,
pagination, rate limits, the OpenAPI document."""
