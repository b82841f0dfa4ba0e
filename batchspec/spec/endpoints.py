"""``model.endpoint``: which OpenAI API a model's requests go to, and what each endpoint needs of
the rest of the spec (embeddings: ``prompt.input``, no response_schema, an output that holds vectors)."""

from __future__ import annotations

from typing import Any, Protocol

from batchspec.providers import ENDPOINTS, Provider, get_provider
from batchspec.providers.rules import rules_for
from batchspec.spec.model import ModelSpec, OutputSpec, PromptSpec

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
NO_DIMENSIONS = frozenset({"text-embedding-ada-002"})  # a fixed 1536; OpenAI refuses `dimensions`


class Reporter(Protocol):
    data: dict[str, Any]

    def error(self, path: tuple[str | int, ...], message: str, hint: str = "", *, at_key: bool = False) -> None: ...


def provider(name: str, endpoint: str) -> Provider:
    """The adapter whose parameters a model block is checked against."""
    return ENDPOINTS[endpoint] if name == "openai" and endpoint in ENDPOINTS else get_provider(name)


def _model_path(report: Reporter, i: int) -> tuple[str | int, ...]:
    return ("model", i) if isinstance(report.data["model"], list) else ("model",)


def check(report: Reporter, prompt: PromptSpec, models: tuple[ModelSpec, ...], output: OutputSpec) -> bool:
    """Report what the endpoints ask of the spec; True when the prompt is a chat prompt."""
    for i, model in enumerate(models):
        path = _model_path(report, i)
        if model.endpoint == "chat":
            if prompt.embed:
                report.error(
                    (*path, "name"),
                    f"model '{model.label}' is a chat model, but prompt.input is the text to embed",
                    "set endpoint: embeddings on every model, or write the prompt as user/messages",
                )
            continue
        if model.provider != "openai":
            report.error(
                (*path, "endpoint"),
                f"endpoint: {model.endpoint} is an OpenAI API; {model.provider} models take only chat",
                "remove endpoint, or use provider: openai (with base_url for the fake or a compatible server)",
            )
            continue
        if model.endpoint == "responses":
            _check_responses(report, model, path, prompt)
            continue
        if not prompt.embed:
            report.error(
                (*path, "endpoint"),
                "endpoint: embeddings embeds prompt.input, and this prompt has none",
                "write the prompt as `prompt: {input: '{{ text }}'}`",
            )
        if model.response_schema is not None:
            report.error((*path, "response_schema"), "embeddings have no structured output", "remove response_schema")
        given = {**model.params, **model.extra_params}
        if "dimensions" in given:
            size = given["dimensions"]
            if model.name in NO_DIMENSIONS:
                report.error(
                    (*path, "params", "dimensions"),
                    f"{model.name} has a fixed size of 1536 and refuses dimensions",
                    "remove it, or use text-embedding-3-small/large",
                )
            elif isinstance(size, bool) or not isinstance(size, int) or size < 1:
                report.error((*path, "params", "dimensions"), f"dimensions must be a positive integer, not {size!r}")
    if prompt.embed and output.format == "csv":
        report.error(
            ("output", "path"),
            "a CSV output cannot hold embeddings: a vector of hundreds of floats per row is not a CSV value "
            "any reader would take back as numbers",
            "write .jsonl (a JSON array), .parquet (list<float32>) or .sqlite (a float32 BLOB)",
        )
    return not prompt.embed


def _check_responses(report: Reporter, model: ModelSpec, path: tuple[str | int, ...], prompt: PromptSpec) -> None:
    """What the Responses API refuses of this model: reasoning on a model that does not reason."""
    if prompt.embed:
        report.error(
            (*path, "endpoint"),
            "endpoint: responses answers a prompt; prompt.input is for embeddings",
            "write the prompt as user/messages",
        )
    given = {**model.params, **model.extra_params}
    reasoning = given.get("reasoning")
    if reasoning is None:
        return
    section = "params" if "reasoning" in model.params else "extra_params"
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if "reasoning" not in rules_for("openai", model.name).family:
        report.error(
            (*path, section, "reasoning"),
            f"{model.name} is not a reasoning model: OpenAI refuses reasoning.effort for it",
            "remove reasoning, or use a gpt-5 / o-series model",
        )
    elif not isinstance(reasoning, dict) or (effort is not None and effort not in EFFORTS):
        report.error(
            (*path, section, "reasoning"),
            f"reasoning must be {{effort: {' | '.join(EFFORTS)}}}, not {reasoning!r}",
        )
