"""The REST API fixtures (admin client, user and project factories) for the auth tests."""

from tests.integration.api.conftest import anonymous, api, as_user, new_project, new_user  # noqa: F401
