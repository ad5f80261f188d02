"""A local OpenAI Responses API with background mode, resumable streams and fault injection."""

from .config import GenerationSettings, ServerSettings
from .control import FakeControl, ResponseRecord
from .faults import FaultRule
from .server import FakeOpenAIServer
from .webhooks import WebhookAttempt

__all__ = [
    "FakeControl",
    "FakeOpenAIServer",
    "FaultRule",
    "GenerationSettings",
    "ResponseRecord",
    "ServerSettings",
    "WebhookAttempt",
]
