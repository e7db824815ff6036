"""The end-to-end tests run on the stack that tests/conftest.py starts (shared with the
security tests)."""

from tests.conftest import WEBHOOK_SECRET

__all__ = ["WEBHOOK_SECRET"]
