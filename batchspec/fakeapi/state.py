"""Everything one fake server instance holds, shared by the handlers of both providers."""

from __future__ import annotations

from pathlib import Path

from .caching import PromptCache
from .clock import Clock
from .config import FakeConfig
from .faults import Attempts
from .journal import Journal
from .ledger import Ledger
from .ratelimit import Limiter


class FakeState:
    def __init__(self, config: FakeConfig, clock: Clock | None = None, journal: Path | None = None) -> None:
        self.config = config
        self.journal: Journal | None = None  # set after replaying, so replay writes nothing
        self.clock = clock or Clock()
        self.ledger = Ledger(config.ledger_path)
        self.cache = PromptCache(self.clock.now)
        self.attempts = Attempts()
        self.openai_limits = Limiter(lambda: {"requests": self.config.rpm, "tokens": self.config.tpm}, self.clock.now)
        self.anthropic_limits = Limiter(
            lambda: {
                "requests": self.config.rpm,
                "input_tokens": self.config.tpm,
                "output_tokens": self.config.anthropic_output_tpm or self.config.tpm,
            },
            self.clock.now,
        )
        # Imported here: the stores import this module's type for their own annotations.
        from .anthropic_batches import AnthropicBatches
        from .openai_batches import OpenAIBatches

        self.openai = OpenAIBatches(self)
        self.anthropic = AnthropicBatches(self)
        if journal is not None:
            kept = Journal(journal)
            kept.replay(self)
            self.journal = kept
