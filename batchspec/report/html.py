"""`report --html`: one self-contained file (data, styles and the chart script inline; no network)."""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from batchspec.sinks.writers import replacing


def render_html(data: dict[str, Any]) -> str:
    template = resources.files("batchspec.report").joinpath("template.html").read_text("utf-8")
    # "</" would end the inline <script>: escape it inside the JSON.
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    return template.replace("__TITLE__", html.escape(data["job"])).replace("__DATA__", payload)


def write_html(data: dict[str, Any], path: Path) -> None:
    with replacing(path) as tmp:
        tmp.write_text(render_html(data), "utf-8")
