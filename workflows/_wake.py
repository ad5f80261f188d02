"""The webhook wake of one run: which responses a webhook said have ended, and whether a
receiver wakes the run at all (switchable while it runs, `set_webhooks`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from durable_responses.models._carried import ResumeState
    from durable_responses.models.webhooks import WebhookEvent, WebhookSetting


class Wake:
    """What the run's `openai_webhook` signal and `set_webhooks` update change, and what the
    poll loop waits on. The setting lives in the carried state, so it outlives continue-as-new."""

    def __init__(self, state: ResumeState) -> None:
        self._state = state
        self._ended: set[str] = set()  # responses a webhook said have ended
        self._chosen: bool | None = None  # set by the update, beats what the create said
        self.retuned = False
        """The setting changed since the poll loop last looked: its intervals are stale."""

    def webhook(self, event: WebhookEvent) -> None:
        """A duplicate or a stranger's event changes nothing."""
        self._ended.add(event.response_id)

    def woken(self) -> bool:
        return self._state.response_id in self._ended

    def consume(self) -> bool:
        """Whether a webhook woke the run; it is spent either way."""
        woken = self.woken()
        self._ended.discard(self._state.response_id or "")
        return woken

    def created(self, webhooks: bool) -> None:
        """The create's word on webhooks, unless an update already chose."""
        self._state.webhooks = webhooks if self._chosen is None else self._chosen

    def set(self, setting: WebhookSetting) -> WebhookSetting:
        """Switch webhooks on or off; the poll loop picks the new intervals up at once."""
        self._chosen = setting.enabled
        if self._state.webhooks != setting.enabled:
            self._state.webhooks = setting.enabled
            self.retuned = True
            workflow.logger.info(
                "response %s: webhooks %s",
                self._state.response_id,
                "on" if setting.enabled else "off",
            )
        return WebhookSetting(enabled=self._state.webhooks)
