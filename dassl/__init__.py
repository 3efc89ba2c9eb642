"""A small, from-scratch engine compatible with the subset of Dassl that CoOp-family trainers use.

See docs/ENGINE.md for the API subset and how it differs from the reference Dassl.
"""

__version__ = "0.6.3"
