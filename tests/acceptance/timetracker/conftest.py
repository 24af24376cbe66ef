"""Acceptance tests reuse the TimeTracker test fixture ``tt`` (HTTP helpers, admin headers)."""

from tests.apps.timetracker.conftest import tt  # noqa: F401  (re-exported fixture)
