"""Temporal workflows of durable-responses; register them on any worker and task queue."""

from .background_response import BackgroundResponseWorkflow

WORKFLOWS: list[type] = [BackgroundResponseWorkflow]
"""Every workflow of the project, for `Worker(workflows=WORKFLOWS)`."""

__all__ = ["WORKFLOWS", "BackgroundResponseWorkflow"]
