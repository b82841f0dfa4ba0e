"""`batchspec schema`: the JSON Schema of the spec, for editors and other tools."""

from __future__ import annotations

import json

from batchspec.spec.schema import schema_copy


def schema_command() -> int:
    print(json.dumps(schema_copy(), indent=2))
    return 0
