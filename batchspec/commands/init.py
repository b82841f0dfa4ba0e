"""`batchspec init`: a commented starter spec and a tiny sample input that pass `validate`.

Only the spec itself is ever refused for existing: a second `init other.yaml` in the same folder
reuses the sample input (or writes one beside it) instead of demanding `--force`, and refreshes the
JSON Schema file editors read through the spec's first line.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from batchspec.errors import InputError
from batchspec.sources import display_path
from batchspec.spec.schema import schema_copy

SCHEMA_FILE = "batchspec.schema.json"


def init_command(spec_path: Path, *, force: bool, provider: str = "fake") -> int:
    name = re.sub(r"[^a-z0-9_-]+", "-", spec_path.stem.lower()).strip("-")[:64] or "job"
    if spec_path.exists() and not force:
        raise InputError(f"{display_path(spec_path)} already exists; pass --force to overwrite it")
    templates = resources.files("batchspec.templates")
    sample = templates.joinpath("sample.jsonl").read_text("utf-8")
    data_path = _sample_path(spec_path.parent / "data", name, sample)
    schema_path = spec_path.parent / SCHEMA_FILE
    schema = schema_copy()
    write_schema = _is_ours_or_missing(schema_path, schema["$id"])
    spec_text = _with_model(templates.joinpath("starter.yaml").read_text("utf-8"), provider).format(
        name=name,
        spec=display_path(spec_path),
        data=data_path.relative_to(spec_path.parent).as_posix(),
        output=f"out/{name}.jsonl",
        schema=SCHEMA_FILE,
    )
    wrote = [spec_path]
    if not data_path.exists():
        data_path.parent.mkdir(parents=True, exist_ok=True)
        data_path.write_text(sample, "utf-8")
        wrote.append(data_path)
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(spec_text, "utf-8")
    if write_schema:
        schema_path.write_text(json.dumps(schema, indent=2) + "\n", "utf-8")
    print(f"Wrote {' and '.join(display_path(p) for p in wrote)}.")
    if data_path not in wrote:
        print(f"Reused {display_path(data_path)} (it holds the sample records already).")
    if not write_schema:
        print(f"Left {display_path(schema_path)} alone: it is not a batchspec schema (`batchspec schema` prints one).")
    print(f"Next: batchspec validate {display_path(spec_path)}  then  batchspec plan {display_path(spec_path)}")
    return 0


def starter_providers() -> tuple[str, ...]:
    """The providers ``init --provider`` has a starter model block for (besides the offline fake)."""
    names = (f.name for f in resources.files("batchspec.templates").iterdir())
    return ("fake", *sorted(n[len("model_") : -len(".yaml")] for n in names if n.startswith("model_")))


def _with_model(starter: str, provider: str) -> str:
    """The starter spec with its model block replaced by ``templates/model_<provider>.yaml``."""
    if provider == "fake":
        return starter
    block = resources.files("batchspec.templates").joinpath(f"model_{provider}.yaml").read_text("utf-8")
    start, end = starter.index("\nmodel:\n") + 1, starter.index("\nexecution:\n") + 1
    return starter[:start] + block + "\n" + starter[end:]


def _sample_path(folder: Path, name: str, sample: str) -> Path:
    """``data/sample.jsonl`` unless it holds something else; then ``data/<name>.sample.jsonl``."""
    for candidate in (folder / "sample.jsonl", folder / f"{name}.sample.jsonl"):
        if not candidate.exists() or _holds(candidate, sample):
            return candidate
    raise InputError(
        f"{display_path(folder / 'sample.jsonl')} and {display_path(candidate)} exist and hold other data; "
        "move one of them away to let init write its sample input"
    )


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text("utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def _is_ours_or_missing(path: Path, schema_id: str) -> bool:
    if not path.exists():
        return True
    try:
        return bool(json.loads(path.read_text("utf-8")).get("$id") == schema_id)
    except (OSError, ValueError, AttributeError):
        return False
