"""The sandbox app (dispatch on) for the tests that watch the dispatcher leave held messages alone."""

from tests.dispatch.conftest import dispatch_config, dispatch_settings, sandbox_api  # noqa: F401  (fixtures)
