"""What each planned item holds: deterministic texts, arguments, queries, code, images.

Everything here is a pure function of the request's content (ids left out), the seed and the
turn: the same request gives the same contents. Formats tests may rely on:

- Function arguments: compact JSON of every property of the tool's `parameters` schema
  (`textgen.instance`), seeded by seed, tool name, input, turn and call position.
- Web search `i` (from 0): query = the topic (up to six words of the latest user text), then
  `<topic> <facet>`; source URL `https://<example.com|.org|.net, by i>/<query-slug>`.
- Citation of a search: ` ([<domain>](<url>?utm_source=openai))` inserted after a sentence of
  the answer, its `url_citation` annotation spanning the text without the leading space
  (code-point indices), titled `<query> — <domain>`.
- Quote of a function output: `<name> said "<output>". `, the output's text with whitespace
  collapsed, cut at 60 characters with `…` appended (list outputs: their parts' `text`, or
  `[<type>]`).
- MCP: the server lists one tool (`mcp_tool`, one string property `question`); arguments
  `{"question": "<topic>"}`; output `<server_label> answered: <twelve words>.`
- Code: five seeded integers, summed; logs `n=5 total=<sum> mean=<mean:.2f>\\n`.
- Image: `image_bytes` seeded pseudo-random bytes, base64; the partial image is the first half.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from . import textgen
from .steps import (
    CodeInterpreterStep,
    FileSearchStep,
    ImageStep,
    McpCallStep,
    MessageStep,
    WebSearchStep,
)

REFUSAL = "I\u2019m sorry, but I can\u2019t help with that."
DOMAINS = ("example.com", "example.org", "example.net")
SNIPPET_CHARS = 60
_FACETS = ("latest", "overview", "statistics", "history", "analysis", "examples")


def words_of(text: str) -> list[str]:
    """Tokens of a fixed text, each word with the spaces after it."""
    return re.findall(r"\S+\s*", text)


def arguments(tool: dict[str, Any], seed: int, content: Any, turn: int, index: int) -> str:
    schema = tool.get("parameters")
    if not isinstance(schema, dict):
        return "{}"
    value = textgen.instance(schema, textgen.seeded(seed, tool["name"], content, turn, index))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def search(topic: str, index: int, *, sources: bool) -> WebSearchStep:
    query = topic if index == 0 else f"{topic} {_FACETS[(index - 1) % len(_FACETS)]}"
    slug = "-".join(re.findall(r"[a-z0-9]+", query.lower())) or "result"
    return WebSearchStep(query, f"https://{DOMAINS[index % len(DOMAINS)]}/{slug}", sources)


def file_search(
    tool: dict[str, Any], topic: str, seed: int, content: Any, *, results: bool
) -> FileSearchStep:
    if not results:
        return FileSearchStep((topic,))
    rng = textgen.seeded(seed, "file_search", content)
    store = str((tool.get("vector_store_ids") or ["vs"])[0])
    return FileSearchStep(
        (topic,),
        tuple(
            {
                "attributes": {},
                "file_id": "file-" + hashlib.sha256(f"{store}/{i}".encode()).hexdigest()[:22],
                "filename": f"document-{i + 1}.pdf",
                "score": round(0.9 - 0.1 * i, 4),
                "text": textgen.words(rng, 12),
            }
            for i in range(2)
        ),
    )


def code(tool: dict[str, Any], seed: int, content: Any, *, outputs: bool) -> CodeInterpreterStep:
    values = [textgen.seeded(seed, "code", content, i).randint(1, 20) for i in range(5)]
    total = sum(values)
    source = (
        f"values = {values}\n"
        "total = sum(values)\n"
        'print(f"n={len(values)} total={total} mean={total / len(values):.2f}")\n'
    )
    logs = f"n={len(values)} total={total} mean={total / len(values):.2f}\n"
    container = tool.get("container")
    return CodeInterpreterStep(
        source, logs, container if isinstance(container, str) else None, outputs
    )


def image(tool: dict[str, Any], topic: str, seed: int, content: Any, size: int) -> ImageStep:
    data = textgen.seeded(seed, "image", content).randbytes(size)

    def chosen(key: str, default: str) -> str:
        value = tool.get(key)
        return value if isinstance(value, str) and value != "auto" else default

    return ImageStep(
        result=base64.b64encode(data).decode(),
        partial=base64.b64encode(data[: len(data) // 2]).decode(),
        revised_prompt=f"An image of {topic}",
        size=chosen("size", "1024x1024"),
        quality=chosen("quality", "medium"),
        background=chosen("background", "opaque"),
        output_format=chosen("output_format", "png"),
    )


def mcp_tool(name: str) -> dict[str, Any]:
    """The one tool every MCP server lists."""
    return {
        "name": name,
        "description": "Answer a question from the server's documents.",
        "input_schema": {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
            "additionalProperties": False,
        },
        "annotations": {"read_only": True},
    }


def mcp_arguments(topic: str) -> str:
    return json.dumps({"question": topic}, ensure_ascii=False)


def mcp_call(
    label: str, name: str, arguments: str, seed: int, request_id: str | None
) -> McpCallStep:
    rng = textgen.seeded(seed, "mcp", label, name, arguments)
    output = f"{label} answered: {textgen.words(rng, 12)}."
    return McpCallStep(label, name, arguments, output, request_id)


def quotes(input_items: list[dict[str, Any]], names: dict[str, str]) -> str:
    """`<name> said "<output>". ` for each function output of the input, in input order."""
    return "".join(
        f'{names.get(item["call_id"]) or "the tool"} said "{snippet(item["output"])}". '
        for item in input_items
        if item.get("type") == "function_call_output"
    )


def snippet(output: str | list[Any]) -> str:
    if isinstance(output, list):
        output = " ".join(
            str(part.get("text", f"[{part.get('type')}]")) if isinstance(part, dict) else ""
            for part in output
        )
    text = " ".join(output.split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"


def cite(tokens: list[str], searches: list[WebSearchStep], *, after: int) -> MessageStep:
    """The message with one citation per search, each after a sentence of the answer (from
    token `after` on, so opening sentences stay whole), spread over it."""
    if not searches:
        return MessageStep(tuple(tokens))
    ends = [i for i in range(after, len(tokens)) if tokens[i].rstrip().endswith(".")]
    anchors = [
        ends[(j * len(ends)) // len(searches)] if ends else len(tokens) - 1
        for j in range(len(searches))
    ]
    out: list[str] = []
    annotations: dict[int, tuple[dict[str, Any], ...]] = {}
    offset = 0

    def add(found: WebSearchStep) -> None:
        nonlocal offset
        domain = found.url.split("/")[2]
        url = f"{found.url}?utm_source=openai"
        start = offset + 1  # the cited span leaves out the leading space
        for piece in (f" ([{domain}](", url, "))"):
            out.append(piece)
            offset += len(piece)
        annotations[len(out) - 1] = (
            {
                "type": "url_citation",
                "start_index": start,
                "end_index": offset,
                "url": url,
                "title": f"{found.query} — {domain}",
            },
        )

    for found, anchor in zip(searches, anchors, strict=True):
        if anchor < 0:  # no answer tokens at all
            add(found)
    for i, token in enumerate(tokens):
        out.append(token)
        offset += len(token)
        for found, anchor in zip(searches, anchors, strict=True):
            if anchor == i:
                add(found)
    return MessageStep(tuple(out), annotations)
