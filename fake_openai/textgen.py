"""Deterministic stand-in for a model's output: same input and seed, same tokens."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

# A small vocabulary with a few non-ASCII words, so offset and encoding bugs show up in tests.
_WORDS = (
    "the a of to and in that is for it as with on by this be are from at or an which not can "
    "time light space energy mass field wave theory model system result measure observer frame "
    "relativity gravity motion speed clock signal network worker history cursor stream event "
    "response request durable retry backoff timer state offset sequence replay window policy "
    "careful simple precise robust gentle rapid steady quiet bright curious patient modest "
    "explains describes shows predicts keeps moves bends slows records resumes follows "
    "naïve café façade déjà-vu coöperate Zürich São-Paulo Ångström — “quoted” 🚀 λ π"
).split()
_SUMMARY_WORDS = (
    "considering the question first then weighing evidence checking assumptions outlining "
    "answer structure noting edge cases verifying units drafting the reply"
).split()


def _rng(seed: int, model: str, input_: Any, instructions: str | None, salt: str) -> random.Random:
    material = json.dumps([seed, model, input_, instructions, salt], sort_keys=True, default=str)
    return random.Random(int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big"))


def answer_tokens(
    *, seed: int, model: str, input_: Any, instructions: str | None, count: int
) -> list[str]:
    """Return `count` text tokens (words with their leading space, or paragraph breaks)."""
    rng = _rng(seed, model, input_, instructions, "answer")
    tokens: list[str] = []
    sentence_left = 0
    paragraph_left = rng.randint(3, 5)
    for _ in range(count):
        if sentence_left == 0:
            if tokens:
                tokens[-1] += "."
                paragraph_left -= 1
                if paragraph_left == 0:
                    tokens.append("\n\n")
                    paragraph_left = rng.randint(3, 5)
                    if len(tokens) >= count:
                        break
            sentence_left = rng.randint(6, 16)
            word = rng.choice(_WORDS).capitalize()
            lead = "" if not tokens or tokens[-1] == "\n\n" else " "
            tokens.append(lead + word)
        else:
            tokens.append(" " + rng.choice(_WORDS))
        sentence_left -= 1
    tokens = tokens[:count]
    if tokens and not tokens[-1].endswith((".", "\n\n")):
        tokens[-1] += "."
    return tokens


def json_tokens(*, seed: int, input_: Any, schema: dict[str, Any]) -> list[str]:
    """Structured output: JSON that `schema` (a strict `json_schema` text format) accepts,
    cut into tokens of a few characters, as a model streams it."""
    rng = _rng(seed, "json", input_, json.dumps(schema, sort_keys=True), "json")
    text = json.dumps(_instance(schema, schema.get("$defs", {}), rng), ensure_ascii=False)
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def _instance(schema: dict[str, Any], defs: dict[str, Any], rng: random.Random) -> Any:
    if "$ref" in schema:
        return _instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, rng)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _instance(rng.choice(options), defs, rng)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _instance(sub, defs, rng) for name, sub in props.items()}
    if kind == "array":
        return [_instance(schema.get("items", {}), defs, rng) for _ in range(rng.randint(1, 3))]
    if kind == "integer":
        return rng.randint(0, 100)
    if kind == "number":
        return round(rng.uniform(0, 100), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))


def summary_tokens(
    *, seed: int, model: str, input_: Any, instructions: str | None, count: int
) -> list[str]:
    """Return `count` tokens of a reasoning summary."""
    rng = _rng(seed, model, input_, instructions, "summary")
    words = [rng.choice(_SUMMARY_WORDS) for _ in range(count)]
    if not words:
        return []
    words[0] = "**Planning** " + words[0].capitalize()
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def count_input_tokens(input_: Any, instructions: str | None) -> int:
    """Rough token count (four characters a token), enough for usage figures."""
    size = len(json.dumps(input_, default=str)) + len(instructions or "")
    return max(1, size // 4)
