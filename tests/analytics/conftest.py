"""The sandbox app (dispatch on): funnels count messages that really went through it."""

from tests.dispatch.conftest import dispatch_config, dispatch_settings, sandbox_api  # noqa: F401  (fixtures)
