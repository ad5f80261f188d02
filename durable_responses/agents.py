"""Agent loops from your workflow code: `run_agent` and the tools it runs
(`activity_tool`, `function_tool`, `agent_tool`). Re-exported by `durable_responses.workflow`.

Each model turn is a durable response (a child workflow), each function call an activity of
yours (or a workflow-side function), approvals wait on your workflow's `approve` update; the
loop itself is `workflows/_agent.py`.
"""

from __future__ import annotations

from durable_responses.workflows._agent import agent_tool
from durable_responses.workflows._run_agent import run_agent
from durable_responses.workflows._tools import activity_tool, function_tool

__all__ = ["activity_tool", "agent_tool", "function_tool", "run_agent"]
