"""The sandbox app (dispatch on): messages reach their final statuses before they are purged."""

from tests.dispatch.conftest import dispatch_config, dispatch_settings, sandbox_api  # noqa: F401  (fixtures)
