"""The error a sweep raises for a bad sweep file or command line."""
from dassl.utils.errors import FrameworkError


class SweepError(FrameworkError, ValueError):
    """A sweep file or option that cannot be run; the message says what to change."""
