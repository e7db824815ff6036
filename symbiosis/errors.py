"""Errors of the ``symbiosis`` command."""


class UserError(Exception):
    """A mistake or a state a person can fix; printed without a traceback."""
