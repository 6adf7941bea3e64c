"""Conftest of the cluster tests: helper modules registered for assertion rewriting.

The Dynamo stand-in fixture (`dynamo_standin`) lives in tests/conftest.py: the browser tests use it too.
"""

from __future__ import annotations

import pytest

# Before any test module imports it, so that its assertions are rewritten wherever it is used.
pytest.register_assert_rewrite("api_fixtures", "faulty_apiserver", "support")
