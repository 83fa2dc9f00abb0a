"""The JSON Schema of the manifest, generated deterministically."""

from __future__ import annotations

import json

from zoo.manifest._models import Manifest

SCHEMA_ID = "https://zoo.dev/schemas/manifest.schema.json"


def schema_text() -> str:
    """The JSON Schema as text: sorted keys, two-space indent, trailing newline."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "zoo manifest"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
