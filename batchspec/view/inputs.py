"""A record's input fields: the state keeps requests, not inputs, so they are read from the job's
input file (when it is still there), stopping at the record."""

from __future__ import annotations

from itertools import islice
from typing import Any

from batchspec.errors import BatchspecError
from batchspec.render import Renderer, custom_id_for
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec


def input_fields(spec: JobSpec, custom_id: str, ordinal: int | None = None) -> tuple[dict[str, Any] | None, str]:
    """(the record's fields, where they were read) or (None, why not). The record is looked for at
    its position of the last plan (``ordinal``) first: no id is computed for the records before it."""
    try:
        source = source_for(spec)
        missing = source.check_exists()
        if missing:
            return None, f"the input is not readable here: {missing}"
        renderer = Renderer(spec)
        if ordinal is not None:
            for position, record in islice(source.records(), ordinal - 1, ordinal):
                where = source.where(position)
                if custom_id in (rid := renderer.record_id(record, where), custom_id_for(rid)):
                    return dict(record), where
        for position, record in source.records():
            where = source.where(position)
            record_id = renderer.record_id(record, where)
            if custom_id in (record_id, custom_id_for(record_id)):
                return dict(record), where
    except BatchspecError as error:
        return None, f"the input could not be read: {error}"
    return None, f"no longer in the input ({source.display}): the state keeps its request, not its fields"
