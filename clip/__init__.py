"""CLIP in OpenAI's layout with a side-branch seam for adapters (see docs/CLIP.md)."""
from .clip import *  # noqa: F401,F403  (re-exports the public `clip.clip` API, as OpenAI's package does)
