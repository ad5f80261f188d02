"""Whether our workflows run in the SDK's sandbox: they do not, by measured choice.

The sandbox re-imports a workflow's modules for every run and wraps every activation; for
our workflows that was over a third of a busy worker's CPU (`python -m bench.scale`, README
"Throughput"). What the sandbox would catch is caught instead by the tests, which run these
workflows inside it (`unsandboxed_workflow_runner=SandboxedWorkflowRunner()`: the suite's
workers and the replay of every recorded history). A caller's own workflows on the same
worker keep the sandbox.
"""

SANDBOXED = False
