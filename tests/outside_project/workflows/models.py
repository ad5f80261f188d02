"""The outside project's data: its pipeline's input and result, and a structured answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Summary(BaseModel):
    """A structured answer: asked for as JSON of this schema and validated into it."""

    title: str
    key_points: list[str]


class PipelineInput(BaseModel):
    """Exactly three questions: one polled, one streamed, one answered as a `Summary`."""

    questions: list[str] = Field(min_length=3, max_length=3)


class Answer(BaseModel):
    """What the pipeline keeps of one durable response."""

    question: str
    response_id: str
    status: str
    output_text: str
    polls: int = 0
    chunks: int = 0


class PipelineResult(BaseModel):
    """The shouted first question, the three answers, and the structured one parsed."""

    shouted: str
    polled: Answer
    streamed: Answer
    structured: Answer
    summary: Summary
