"""`--verbose` / `--log-file`: what batchspec and the SDKs do, with every API key blanked out."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from batchspec.providers.credentials import redact

LOGGERS = ("batchspec", "openai", "anthropic", "httpx2", "httpx")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes secrets: SDK debug logs echo requests and responses."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(*, verbose: bool, log_file: Path | None) -> None:
    if not verbose and log_file is None:
        return
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        for handler in handlers:
            logger.addHandler(handler)
