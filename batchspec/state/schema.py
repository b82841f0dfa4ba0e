"""The state file's schema as append-only migrations: never edit one that has shipped, add another."""

from __future__ import annotations

APPLICATION_ID = 0x42535043  # "BSPC": tells a batchspec state file from any other SQLite file

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        -- Request bodies by content hash: what was (or will be) sent, kept for `plan --explain`.
        CREATE TABLE requests (
            request_hash TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model_name TEXT NOT NULL,
            body BLOB NOT NULL
        ) WITHOUT ROWID;

        -- One row per input record and model: its current request and where it stands.
        CREATE TABLE records (
            model TEXT NOT NULL,              -- the model's label
            custom_id TEXT NOT NULL,
            record_id TEXT NOT NULL,
            ordinal INTEGER NOT NULL,         -- position in the input at the last plan
            request_hash TEXT NOT NULL,
            status TEXT NOT NULL,             -- pending | submitted | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            batch_key TEXT,                   -- the batch it is in flight in
            input_tokens INTEGER,             -- estimate
            last_error_code TEXT,
            last_error_message TEXT,
            run_id INTEGER,                   -- the last run whose input held it
            updated_at TEXT NOT NULL,
            PRIMARY KEY (model, custom_id)
        ) WITHOUT ROWID;
        CREATE INDEX records_by_batch ON records (batch_key) WHERE batch_key IS NOT NULL;
        CREATE INDEX records_by_run ON records (run_id, ordinal);
        CREATE INDEX records_by_hash ON records (model, request_hash);
        -- What to send next, in input order, without stepping over everything already sent.
        CREATE INDEX records_pending ON records (model, run_id, ordinal) WHERE status = 'pending';

        -- Batches, written before submission (write-ahead) and updated at every poll.
        CREATE TABLE batches (
            local_key TEXT PRIMARY KEY,
            run_id INTEGER,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            provider_batch_id TEXT UNIQUE,
            status TEXT NOT NULL,
            request_count INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            input_file_id TEXT,
            output_file_id TEXT,
            error_file_id TEXT,
            counts TEXT,                      -- the provider's request_counts, JSON
            error TEXT,
            created_at TEXT NOT NULL,         -- the intent to submit
            submitted_at TEXT,
            in_progress_at TEXT,
            finalizing_at TEXT,
            completed_at TEXT,
            failed_at TEXT,
            expired_at TEXT,
            expires_at TEXT,
            cancelling_at TEXT,
            cancelled_at TEXT,
            collected_at TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,                    -- billed; NULL when a model's price is unknown
            sync_cost_usd REAL                -- the same tokens as uncached synchronous calls
        );

        CREATE TABLE batch_items (
            local_key TEXT NOT NULL,
            model TEXT NOT NULL,
            custom_id TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            attempt INTEGER NOT NULL,         -- which attempt of the record this submission is
            wire_id TEXT NOT NULL,            -- the custom_id as this batch sent it
            PRIMARY KEY (local_key, model, custom_id)
        ) WITHOUT ROWID;
        CREATE INDEX batch_items_by_record ON batch_items (model, custom_id);

        -- Successful responses. UNIQUE makes collecting a batch twice harmless.
        CREATE TABLE results (
            id INTEGER PRIMARY KEY,
            model TEXT NOT NULL,
            custom_id TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            batch_key TEXT NOT NULL DEFAULT '',  -- empty for sync requests and cache hits
            attempt INTEGER NOT NULL,
            output TEXT,
            parsed TEXT,                      -- JSON, with response_schema
            response BLOB NOT NULL,           -- the provider's response body, JSON
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,                    -- NULL when the model's price is unknown
            sync_cost_usd REAL,               -- the same tokens, synchronous and uncached
            source TEXT NOT NULL DEFAULT 'batch',  -- batch | sync | cache
            created_at TEXT NOT NULL,
            UNIQUE (model, custom_id, request_hash, batch_key, attempt)
        );
        CREATE INDEX results_by_request ON results (model, custom_id, request_hash);
        CREATE INDEX results_by_hash ON results (request_hash);

        -- Failed attempts; the last one for a failed record is what the errors sink shows.
        CREATE TABLE errors (
            id INTEGER PRIMARY KEY,
            model TEXT NOT NULL,
            custom_id TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            batch_key TEXT NOT NULL DEFAULT '',
            attempt INTEGER NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            retryable INTEGER NOT NULL,
            response BLOB,                    -- a billed answer that was unusable (invalid output)
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            sync_cost_usd REAL,
            created_at TEXT NOT NULL,
            UNIQUE (model, custom_id, request_hash, batch_key, attempt)
        );
        CREATE INDEX errors_by_request ON errors (model, custom_id, request_hash);

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            mode TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            exit_code INTEGER,
            records INTEGER,
            summary TEXT                      -- JSON
        );
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]

# The response cache shared by jobs (cache.responses): one file, its own schema.
RESPONSE_CACHE_SCHEMA = """
    CREATE TABLE IF NOT EXISTS responses (
        request_hash TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model_name TEXT NOT NULL,
        output TEXT,
        parsed TEXT,
        response BLOB NOT NULL,
        sync_cost_usd REAL,
        job TEXT NOT NULL,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;
"""
