"""The spec checked against each model family's rules (``providers/rules.py``), at the spec's lines.

What a provider would refuse for every record is an error here, before anything is sent; what
batchspec adjusts for the family (a renamed parameter) is a note `validate` shows once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from batchspec.providers import get_provider
from batchspec.providers.base import RenderedMessage
from batchspec.providers.rules import ANTHROPIC_API_VERSION, FamilyRules, count_cache_controls, rules_for
from batchspec.providers.structured import translate
from batchspec.spec.model import CacheSpec, ModelSpec, PromptSpec

Path = tuple[str | int, ...]


class Reporter(Protocol):
    def error(self, path: Path, message: str, hint: str = "", *, at_key: bool = False) -> None: ...
    def note(self, path: Path, message: str, hint: str = "") -> None: ...
    def warn(self, path: Path, message: str, hint: str = "") -> None: ...


def api_name(rules: FamilyRules, model: str) -> str:
    if rules.wire == "anthropic":
        return f"anthropic's API (version {ANTHROPIC_API_VERSION}, what batchspec's SDK sends)"
    return f"{model} ({rules.family})"


def check_params(report: Reporter, block: Mapping[str, Any], path: Path, wire: str) -> None:
    """``params`` and ``extra_params`` of one model block against its family's rules."""
    rules = rules_for(wire, block["name"])
    who = api_name(rules, block["name"])
    for section in ("params", "extra_params"):
        values = block.get(section) or {}
        for key, value in values.items():
            where = (*path, section, key)
            if key in rules.refused:
                report.error(where, f"{who} refuses '{key}' at any value", _refused_hint(section), at_key=True)
            elif key in rules.fixed and value is not None and value != rules.fixed[key]:
                report.error(
                    where,
                    f"{who} takes only the default {key} ({rules.fixed[key]}), not {value!r}",
                    f"remove {section}.{key}",
                )
            elif key in rules.renamed:
                _renamed(report, block, where, rules, who)
            elif key == "prompt_cache_key" and rules.max_cache_key and len(str(value)) > rules.max_cache_key:
                report.error(
                    where,
                    f"prompt_cache_key is {len(str(value))} characters; OpenAI accepts at most {rules.max_cache_key}",
                    "shorten it, or leave it out: batchspec sets one from the job name when prompt caching is on",
                )


def _refused_hint(section: str) -> str:
    return "remove it: the provider refuses every request that carries it" + (
        "" if section == "extra_params" else ", also through extra_params"
    )


def _renamed(report: Reporter, block: Mapping[str, Any], where: Path, rules: FamilyRules, who: str) -> None:
    old = str(where[-1])
    new = rules.renamed[old]
    given = {**(block.get("params") or {}), **(block.get("extra_params") or {})}
    if new in given:
        report.error(where, f"{who} takes {new}, not {old}, and {new} is given too", f"keep only {new}")
    else:
        report.note(where, f"{who} takes {new}, not {old}: batchspec sends {where[-2]}.{old} as {new}")


def check_prompt(
    report: Reporter, prompt: PromptSpec, models: tuple[ModelSpec, ...], cache: CacheSpec, has_messages: bool
) -> None:
    """What the prompt's shape means for each model: prefill, a user message, cache breakpoints."""
    where: Path = ("prompt", "messages") if has_messages else ("prompt",)
    roles = [m.role for m in prompt.messages]
    for model in models:
        provider = get_provider(model.provider)
        rules = rules_for(provider.wire, model.name)
        if rules.needs_user_message and all(r == "system" for r in roles):
            report.error(
                where,
                f"{model.provider} needs a user message: this prompt has only system messages",
                "add a {role: user, content: ...} message with the record's fields",
            )
        elif not rules.prefill and roles and roles[-1] == "assistant":
            report.error(
                (*where, len(roles) - 1, "role"),
                f"{model.name} does not support assistant message prefill: the conversation must end with "
                "a user message",
                "remove the last assistant message, or ask for the answer's start in the user message",
            )
        limit = rules.max_cache_breakpoints
        if limit is None:
            continue
        dummy = tuple(RenderedMessage(m.role, "x", m.cache) for m in prompt.messages)
        found = count_cache_controls(provider.build_body(model, dummy, cache, cache_key=None))
        if found > limit:
            report.error(
                where,
                f"each request to {model.name} would carry {found} blocks marked cache_control (system, messages "
                f"and tools); {model.provider} accepts at most {limit}",
                "mark fewer messages `cache: true`",
            )


REPORTED_SCHEMA_ISSUES = 5


def check_response_schema(report: Reporter, schema: Mapping[str, Any], path: Path, wire: str) -> None:
    """What the provider's structured outputs cannot hold of ``schema``, at the construct's line."""
    issues = translate(wire, schema).issues
    errors = [i for i in issues if i.error]
    for issue in errors:
        report.error((*path, *issue.path), issue.message, _schema_hint(wire))
    if errors:
        return
    fallback = (
        "sent with strict: false, so the shape is not guaranteed"
        if wire == "openai"
        else "the rest of the schema is enforced"
    )
    for issue in issues[:REPORTED_SCHEMA_ISSUES]:
        report.warn((*path, *issue.path), issue.message, f"{fallback}; batchspec checks every answer against it")
    if len(issues) > REPORTED_SCHEMA_ISSUES:
        report.warn(path, f"and {len(issues) - REPORTED_SCHEMA_ISSUES} more such constructs in response_schema")


def _schema_hint(wire: str) -> str:
    if wire == "openai":
        return "wrap it: {type: object, properties: {result: ...}, required: [result], additionalProperties: false}"
    return "give the node a type"
