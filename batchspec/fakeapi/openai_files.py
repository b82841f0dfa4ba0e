"""OpenAI Files: uploads held in memory, with the real File object and validation."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import multipart
from .errors import openai_error
from .journal import encoded
from .wire import JSON, Request, openai_id

if TYPE_CHECKING:
    from .state import FakeState

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BATCH_FILE_TTL = 30 * 24 * 3600  # batch files expire after 30 days by default


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    expires_at: int | None

    def obj(self) -> JSON:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": self.expires_at,
            "status_details": None,
        }


class FileStore:
    def __init__(self, state: FakeState) -> None:
        self.state = state
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def add(self, filename: str, purpose: str, data: bytes, ttl: int | None) -> StoredFile:
        now = int(self.state.clock.now())
        stored = StoredFile(openai_id("file-"), filename, purpose, data, now, now + ttl if ttl else None)
        with self._lock:
            self._files[stored.id] = stored
        if self.state.journal is not None and purpose == "batch":  # output files are worked out again
            self.state.journal.record(
                "file", id=stored.id, filename=filename, purpose=purpose, data=encoded(data), created_at=now, ttl=ttl
            )
        self.state.ledger.add(
            "file",
            file_id=stored.id,
            filename=filename,
            purpose=purpose,
            bytes=len(data),
            time=self.state.clock.now(),
        )
        return stored

    def restore(self, id: str, filename: str, purpose: str, data: bytes, created_at: int, ttl: int | None) -> None:  # noqa: A002
        """A file from the journal (see ``journal``)."""
        expires = created_at + ttl if ttl else None
        with self._lock:
            self._files[id] = StoredFile(id, filename, purpose, data, created_at, expires)

    def upload(self, req: Request) -> StoredFile:
        try:
            parts = multipart.parse(req.body, req.header("content-type"))
        except multipart.MultipartError as exc:
            raise openai_error(400, f"Invalid multipart/form-data body: {exc}") from None
        if "purpose" not in parts:
            raise openai_error(
                400,
                "Missing required parameter: 'purpose'.",
                param="purpose",
                code="missing_required_parameter",
            )
        if "file" not in parts:
            raise openai_error(
                400,
                "Missing required parameter: 'file'.",
                param="file",
                code="missing_required_parameter",
            )
        purpose = parts["purpose"].data.decode("utf-8", "replace")
        if purpose not in PURPOSES:
            raise openai_error(
                400,
                f"Invalid value: '{purpose}'. Supported values are: 'assistants', 'batch', "
                "'fine-tune', 'vision', 'user_data', and 'evals'.",
                param="purpose",
                code="invalid_value",
            )
        file = parts["file"]
        filename = file.filename or "upload"
        if purpose == "batch" and not filename.endswith(".jsonl"):
            # The real API checks the name, not the content: bytes sent without a filename
            # (the SDK then says "upload") are refused.
            raise openai_error(400, "Invalid file format for Batch API. Must be .jsonl", "file")
        ttl = self._expires_after(parts) or (BATCH_FILE_TTL if purpose == "batch" else None)
        return self.add(filename, purpose, file.data, ttl)

    @staticmethod
    def _expires_after(parts: dict[str, multipart.Part]) -> int | None:
        anchor = parts.get("expires_after[anchor]")
        seconds = parts.get("expires_after[seconds]")
        if anchor is None and seconds is None:
            return None
        if anchor is None or anchor.data != b"created_at":
            raise openai_error(
                400,
                "Invalid value for 'expires_after.anchor': expected 'created_at'.",
                param="expires_after.anchor",
                code="invalid_value",
            )
        try:
            value = int(seconds.data) if seconds is not None else -1
        except ValueError:
            value = -1
        if not 3600 <= value <= 2_592_000:
            raise openai_error(
                400,
                "Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000.",
                param="expires_after.seconds",
                code="invalid_value",
            )
        return value

    def get(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise openai_error(404, f"No such File object: {file_id}", param="id")
        return stored

    def delete(self, file_id: str) -> JSON:
        self.get(file_id)
        with self._lock:
            self._files.pop(file_id, None)
        return {"id": file_id, "object": "file", "deleted": True}

    def list(self, purpose: str | None, after: str | None, limit: int, order: str) -> JSON:
        with self._lock:
            files = [f for f in self._files.values() if purpose in (None, f.purpose)]
        if order != "asc":
            files.reverse()
        ids = [f.id for f in files]
        start = ids.index(after) + 1 if after in ids else 0
        page = files[start : start + limit]
        return {
            "object": "list",
            "data": [f.obj() for f in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": start + limit < len(files),
        }
