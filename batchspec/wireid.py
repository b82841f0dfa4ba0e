"""The ids a batch sends on the wire: each one says which job and which exact request it is.

A result line comes back carrying only its ``custom_id``. So that a line can be attributed without
the state file (after a lost or rolled-back state, or a submission whose answer was lost), the id
sent is ``<job tag><request tag>_<custom_id>``: the job tag is a hash of the job's name, the request
tag the start of the request's hash (provider, model and exact body). Another job's lines never
carry this job's tag, and a line answering an older version of a record's request (before a
prompt edit) carries another request tag, so it is never taken for the current one.

Both providers accept these ids (1–64 of ``[A-Za-z0-9_-]``, Anthropic's rule, the stricter one).
"""

from __future__ import annotations

import hashlib

JOB_TAG_LENGTH = 6
REQUEST_TAG_LENGTH = 10
HEAD = JOB_TAG_LENGTH + REQUEST_TAG_LENGTH
MAX_LENGTH = 64
# A custom_id too long to follow the head whole keeps a readable start and a hash of all of it.
_KEPT = 27
_HASHED = MAX_LENGTH - HEAD - 1 - _KEPT


def job_tag(job: str) -> str:
    return hashlib.sha256(b"batchspec-job\0" + job.encode()).hexdigest()[:JOB_TAG_LENGTH]


def wire_id(tag: str, custom_id: str, request_hash: str) -> str:
    """The id a batch sends for ``custom_id``'s request ``request_hash`` in the job tagged ``tag``."""
    head = tag + request_hash[:REQUEST_TAG_LENGTH]
    if len(custom_id) <= MAX_LENGTH - HEAD - 1:
        return f"{head}_{custom_id}"
    digest = hashlib.sha256(custom_id.encode()).hexdigest()[:_HASHED]
    return f"{head}-{custom_id[:_KEPT]}{digest}"


def wire_length(custom_id: str) -> int:
    """``len(wire_id(tag, custom_id, request_hash))``, for sizing batches before any id is made."""
    return min(HEAD + 1 + len(custom_id), MAX_LENGTH)


def belongs_to(wire: str, tag: str) -> bool:
    """Whether ``wire`` was sent by the job tagged ``tag`` (as batchspec sends ids today)."""
    return len(wire) > HEAD + 1 and wire.startswith(tag) and wire[HEAD] in "_-"


def custom_id_of(wire: str) -> tuple[str, bool]:
    """(the custom_id in ``wire``, True) or, for a shortened one, (its readable start, False)."""
    if wire[HEAD] == "_":
        return wire[HEAD + 1 :], True
    return wire[HEAD + 1 : HEAD + 1 + _KEPT], False
