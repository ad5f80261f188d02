"""The outside project's own activities: a top-level `activities` package, as many projects have."""

from activities.text import shout

__all__ = ["shout"]
