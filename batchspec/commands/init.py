"""`batchspec init`: a commented starter spec and a tiny sample input that pass `validate`."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from batchspec.errors import InputError
from batchspec.sources import display_path


def init_command(spec_path: Path, *, force: bool) -> int:
    name = re.sub(r"[^a-z0-9_-]+", "-", spec_path.stem.lower()).strip("-")[:64] or "job"
    data_path = spec_path.parent / "data" / "sample.jsonl"
    targets = [spec_path, data_path]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        names = ", ".join(display_path(p) for p in existing)
        raise InputError(f"{names} already exist(s); pass --force to overwrite")
    templates = resources.files("batchspec.templates")
    spec_text = (
        templates.joinpath("starter.yaml")
        .read_text("utf-8")
        .format(name=name, spec=display_path(spec_path), data="data/sample.jsonl", output=f"out/{name}.jsonl")
    )
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text(templates.joinpath("sample.jsonl").read_text("utf-8"), "utf-8")
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(spec_text, "utf-8")
    print(f"Wrote {display_path(spec_path)} and {display_path(data_path)}.")
    print(f"Next: batchspec validate {display_path(spec_path)}  then  batchspec plan {display_path(spec_path)}")
    return 0
