"""A throwaway Synapse for the Matrix tests, and the fixtures and clients that drive it."""

import pytest

# The test modules import these before pytest loads the fixtures as a plugin: register them
# first so their asserts are still rewritten (and report the values that failed).
pytest.register_assert_rewrite("tests.synapse.fixtures", "tests.synapse.people", "tests.synapse.homeserver")
