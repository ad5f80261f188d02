"""Cut OpenAI's OpenAPI description down to the Responses routes the gateway serves.

    git clone https://github.com/openai/openai-openapi && cd openai-openapi
    python /path/to/tests/data/trim_openapi.py openapi.json "$(git rev-parse HEAD)" \
        > /path/to/tests/data/openai-responses.openapi.json

Keeps the four paths below and every component they reach, transitively, verbatim; the
commit it was cut from goes into `info.x-trimmed-from`. tests/test_contract.py validates the
gateway's and the fake's bodies and events against the result.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PATHS = (
    "/responses",
    "/responses/{response_id}",
    "/responses/{response_id}/cancel",
    "/responses/{response_id}/input_items",
)
REPOSITORY = "https://github.com/openai/openai-openapi"


def trim(spec: dict[str, Any], commit: str) -> dict[str, Any]:
    """The part of `spec` that `PATHS` reach."""
    components: dict[str, dict[str, Any]] = {}

    def reach(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                _, _, kind, name = ref.split("/")
                if name not in components.setdefault(kind, {}):
                    components[kind][name] = spec["components"][kind][name]
                    reach(components[kind][name])
            for value in node.values():
                reach(value)
        elif isinstance(node, list):
            for value in node:
                reach(value)

    paths = {path: spec["paths"][path] for path in PATHS}
    reach(paths)
    info = dict(spec["info"])
    info["x-trimmed-from"] = {"repository": REPOSITORY, "commit": commit, "paths": list(PATHS)}
    return {
        "openapi": spec["openapi"],
        "info": info,
        "paths": paths,
        "components": {kind: dict(sorted(named.items())) for kind, named in components.items()},
    }


def main() -> None:
    source, commit = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as file:
        spec = json.load(file)
    json.dump(trim(spec, commit), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
