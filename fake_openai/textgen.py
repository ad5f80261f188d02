"""Deterministic stand-in for a model's output: same input and seed, same tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import math
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


def seeded(*material: Any) -> random.Random:
    """A generator seeded from JSON-able `material`: same material, same numbers."""
    text = json.dumps(material, sort_keys=True, default=str)
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


def _rng(seed: int, model: str, input_: Any, instructions: str | None, salt: str) -> random.Random:
    return seeded(seed, model, input_, instructions, salt)


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
    text = json.dumps(instance(schema, rng), ensure_ascii=False)
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value that `schema` accepts: every property (so `required` and strict schemas hold),
    enums, consts, nested objects and arrays, numeric and length bounds."""
    return _instance(schema, schema.get("$defs", schema.get("definitions", {})), rng)


def _instance(schema: dict[str, Any], defs: dict[str, Any], rng: random.Random) -> Any:
    if "$ref" in schema:
        return _instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, rng)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _instance(rng.choice(options), defs, rng)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged = {
                **merged,
                **part,
                "properties": {**merged.get("properties", {}), **part.get("properties", {})},
            }
        return _instance(merged, defs, rng)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties", {})
        return {name: _instance(sub, defs, rng) for name, sub in props.items()}
    if kind == "array":
        cap = schema.get("maxItems", 3)
        low = min(schema.get("minItems", 1), cap)
        high = max(low, min(cap, low + 2))
        items = schema.get("items", {})
        return [_instance(items, defs, rng) for _ in range(rng.randint(low, high))]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is None:
            low = 0 if high is None or high >= 0 else high - 100
        if high is None:
            high = low + 100
        if kind == "integer":
            return rng.randint(math.ceil(low), math.floor(high))
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
    text = text.ljust(schema.get("minLength", 0), "x")
    return text[: schema["maxLength"]] if "maxLength" in schema else text


def summary_tokens(
    *,
    seed: int,
    model: str,
    input_: Any,
    instructions: str | None,
    count: int,
    salt: str = "summary",
) -> list[str]:
    """Return `count` tokens of a reasoning summary (`salt` tells a turn's summaries apart)."""
    rng = _rng(seed, model, input_, instructions, salt)
    words = [rng.choice(_SUMMARY_WORDS) for _ in range(count)]
    if not words:
        return []
    words[0] = "**Planning** " + words[0].capitalize()
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def count_input_tokens(input_: Any, instructions: str | None) -> int:
    """Rough token count (four characters a token), enough for usage figures."""
    size = len(json.dumps(input_, default=str)) + len(instructions or "")
    return max(1, size // 4)


def words(rng: random.Random, count: int) -> str:
    """`count` words of the vocabulary, space-separated."""
    return " ".join(rng.choice(_WORDS) for _ in range(count))


def opaque(size: int, *material: Any) -> str:
    """A deterministic opaque token that looks like the API's encrypted reasoning content."""
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).digest()
    stream = seeded(digest.hex()).randbytes(size)
    return "gAAAAAB" + base64.urlsafe_b64encode(stream).decode()
