"""What each provider's API refuses for a model family, as data: one row per family.

No JSON Schema encodes these rules, so a request that matches the provider's schema can still be
refused for every record. `validate` checks a spec against the row of each model, the request
builder applies the renames, and the fake API server enforces the same rows with the real error
messages. A new model family is one row; the first row whose pattern matches a model name wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# The Anthropic API version the installed SDK sends (anthropic._constants.ANTHROPIC_API_VERSION).
ANTHROPIC_API_VERSION = "2026-10-21"


@dataclass(frozen=True)
class FamilyRules:
    wire: str  # openai | anthropic
    family: str  # how messages name the family
    pattern: re.Pattern[str]  # matched against the whole model name
    # Parameters the family takes under another name: sent under the new one.
    renamed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Parameters taken only at their default value (any other value is refused).
    fixed: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Parameters refused at any value, even the default.
    refused: frozenset[str] = frozenset()
    prefill: bool = True  # an assistant message may be the last one
    max_cache_breakpoints: int | None = None  # blocks marked cache_control per request
    max_cache_key: int | None = None  # characters of prompt_cache_key
    needs_user_message: bool = False  # a request of system messages only is refused


def _family(pattern: str) -> re.Pattern[str]:
    # A family name, optionally followed by a variant or a dated snapshot (o3-mini, gpt-5-2025-08-07).
    return re.compile(rf"(?:{pattern})(?:[-.].*)?")


def _reasoning(family: str, pattern: str) -> FamilyRules:
    return FamilyRules(
        "openai",
        family,
        _family(pattern),
        renamed=MappingProxyType({"max_tokens": "max_completion_tokens"}),
        fixed=MappingProxyType({"temperature": 1, "top_p": 1}),
        max_cache_key=64,
    )


def _claude(family: str, pattern: str, *, prefill: bool) -> FamilyRules:
    return FamilyRules(
        "anthropic",
        family,
        re.compile(pattern),
        refused=frozenset({"temperature", "top_p", "top_k"}),
        prefill=prefill,
        max_cache_breakpoints=4,
        needs_user_message=True,
    )


RULES: tuple[FamilyRules, ...] = (
    # gpt-5-chat-latest is not a reasoning model: max_tokens, temperature and top_p are taken.
    # Source: "gpt-5-chat-latest allowed parameters" (community.openai.com, quoted in
    # CopilotKit/CopilotKit#7191).
    FamilyRules("openai", "gpt-5 chat", _family(r"gpt-5(?:\.\d+)?-chat"), max_cache_key=64),
    # Reasoning models refuse max_tokens ("Unsupported parameter: 'max_tokens' is not supported with
    # this model. Use 'max_completion_tokens' instead.") and any temperature/top_p but 1
    # ("Unsupported value: 'temperature' does not support 0 with this model. Only the default (1)
    # value is supported.", code unsupported_value). Source: REFERENCE.md "Facts checked 2026-12",
    # and those 400s as reported in QwenLM/qwen-code#921 (gpt-5-mini), OpenHands/OpenHands#4131
    # (o1-mini), johny-b/llmcomp#69 (gpt-5.4).
    _reasoning("gpt-5 (reasoning)", r"gpt-5(?:\.\d+)?"),
    _reasoning("o-series (reasoning)", r"o[1345]"),
    # Every other OpenAI model: prompt_cache_key is at most 64 characters ("Invalid
    # 'prompt_cache_key': string too long. Expected a string with maximum length 64, ...", code
    # string_above_max_length). Source: REFERENCE.md, and the 400 quoted in theopenco/llmgateway#3110.
    FamilyRules("openai", "OpenAI", re.compile(r".*"), max_cache_key=64),
    # Anthropic, API version 2026-10-21 (the default of SDK 2.x): temperature, top_p and top_k are
    # "Extra inputs are not permitted", at any value; at most 4 cache_control blocks; a request
    # needs a user message. Claude models before the 4.6 generation still accept prefill.
    # Source: REFERENCE.md "Facts checked 2026-12"; the installed SDK (anthropic 2.17) sends
    # anthropic-version 2026-10-21 and its messages.create has no temperature/top_p/top_k argument;
    # prefill by generation as observed in ericc-ch/copilot-api#261 (4-5 ids accept, 4-6+ refuse).
    _claude(
        "Claude (prefill-capable)",
        r"claude-(?:3|instant).*|claude-(?:opus|sonnet|haiku)-4(?:-[015])?(?:-\d{8})?",
        prefill=True,
    ),
    # Current Claude models refuse assistant prefill: "This model does not support assistant
    # message prefill. The conversation must end with a user message." (400 invalid_request_error;
    # quoted in smallmain/vscode-unify-chat-provider#249, aaif-goose/goose#7425).
    _claude("Claude", r".*", prefill=False),
)

_NO_RULES = FamilyRules("", "", re.compile(""))


def rules_for(wire: str, model: str) -> FamilyRules:
    """The row for ``model`` spoken in ``wire``; a row with no rules when none matches."""
    return next((r for r in RULES if r.wire == wire and r.pattern.fullmatch(model)), _NO_RULES)


def apply_renames(body: dict[str, Any], rules: FamilyRules) -> dict[str, Any]:
    """``body`` with renamed parameters under the name the family takes (in place)."""
    for old, new in rules.renamed.items():
        if old in body and new not in body:
            body[new] = body.pop(old)
    return body


def count_cache_controls(body: Mapping[str, Any]) -> int:
    """Blocks marked ``cache_control`` in an Anthropic body: tools, system blocks, message blocks."""
    blocks: list[Any] = list(body.get("tools") or [])
    if isinstance(body.get("system"), list):
        blocks += body["system"]
    for message in body.get("messages") or []:
        if isinstance(message, Mapping) and isinstance(message.get("content"), list):
            blocks += message["content"]
    return sum(1 for b in blocks if isinstance(b, Mapping) and b.get("cache_control"))
