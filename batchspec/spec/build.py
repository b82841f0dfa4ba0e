"""Schema-valid spec data → ``JobSpec``, with the semantic checks that need no input records."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema

from batchspec.errors import Diagnostic, SpecError
from batchspec.pricing import nearest_priced_for, price_of
from batchspec.pricing.table import Price
from batchspec.providers import PROVIDERS, Provider, get_provider, provider_spec_keys
from batchspec.providers.rules import rules_for
from batchspec.sources import Source, display_path, infer_format, is_inside
from batchspec.spec import endpoints, modelrules
from batchspec.spec.model import (
    CacheSpec,
    ExecutionSpec,
    InputSpec,
    JobSpec,
    MessageTemplate,
    ModelSpec,
    OutputSpec,
    PromptSpec,
    RateLimits,
    RemoteStateSpec,
    TemplateSource,
)
from batchspec.spec.params import OWN_FIELDS, param_problem
from batchspec.spec.units import parse_duration, parse_size
from batchspec.spec.yamlsrc import Locator
from batchspec.state.remote import RemoteLocation, is_remote

OUTPUT_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".sqlite": "sqlite",
    ".db": "sqlite",
}


class Builder:
    """Builds a JobSpec, collecting every semantic problem instead of stopping at the first."""

    def __init__(
        self,
        data: dict[str, Any],
        locator: Locator,
        spec_path: Path,
        *,
        confined: bool = False,
        check_input: bool = True,
    ) -> None:
        self.confined = confined  # untrusted spec: it may only read files inside its own directory
        self.check_input = check_input  # the input must exist (not for commands that only read the state)
        self.data = data
        self.locator = locator
        self.spec_path = spec_path
        self.base = spec_path.parent
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.notes: list[Diagnostic] = []  # what batchspec adjusts for a model: `validate` says so once

    def error(self, path: tuple[str | int, ...], message: str, hint: str = "", *, at_key: bool = False) -> None:
        self.errors.append(self.locator.diagnostic(path, message, hint, at_key=at_key))

    def note(self, path: tuple[str | int, ...], message: str, hint: str = "") -> None:
        self.notes.append(self.locator.diagnostic(path, message, hint))

    def warn(self, path: tuple[str | int, ...], message: str, hint: str = "") -> None:
        self.warnings.append(self.locator.diagnostic(path, message, hint))

    def build(self, state_override: Path | str | None) -> JobSpec:
        data = self.data
        models = self._models()
        execution = self._execution(models)
        pricing = {name: Price(**fields) for name, fields in data.get("pricing", {}).items()}
        self._check_prices(models, pricing)
        name = data["name"]
        state_path, remote_state = self._state(name, state_override)
        input_spec, output, cache = self._input(), self._output(), self._cache()
        prompt = self._prompt()
        if endpoints.check(self, prompt, models, output):
            modelrules.check_prompt(self, prompt, models, cache, "messages" in data["prompt"])
        self._check_output_paths(output, input_spec, state_path, cache)
        if self.confined:
            cache = self._check_confined(state_path if state_override is None else None, cache)
        return JobSpec(
            name=name,
            spec_path=self.spec_path,
            input=input_spec,
            prompt=prompt,
            models=models,
            output=output,
            state_path=state_path,
            remote_state=remote_state,
            execution=execution,
            cache=cache,
            pricing=MappingProxyType(pricing),
            description=data.get("description", ""),
            locator=self.locator,
        )

    def _state(self, name: str, override: Path | str | None) -> tuple[Path, RemoteStateSpec | None]:
        """The state file, and for an ``s3://`` state, where it lives (the path is then its working copy)."""
        raw = self.data.get("state", {})
        chosen = override if override is not None else raw.get("path", f".batchspec/{name}.db")
        if not is_remote(chosen):
            return (Path(chosen) if override is not None else self._path(str(chosen))), None
        expiry = self._duration(("state", "lock_expiry"), raw["lock_expiry"]) if "lock_expiry" in raw else 900.0
        try:
            location = RemoteLocation.parse(str(chosen))
        except ValueError as error:
            if override is not None:
                raise SpecError([Diagnostic("--state", 0, 0, "", str(error))]) from None
            self.error(("state", "path"), str(error))
            return self._path(f".batchspec/{name}.db"), None
        if self.confined and override is None:
            self.error(
                ("state", "path"),
                "an untrusted spec may not choose a remote state (it would use this machine's credentials)",
                "the operator passes --state s3://... instead",
            )
        return location.working_copy(self.base, name), RemoteStateSpec(location, expiry)

    def check_sections(self, broken: set[str]) -> list[TemplateSource]:
        """Semantic checks of the sections that passed the schema, when others did not, so one
        run of `validate` reports everything. Returns the templates to syntax-check."""
        sections = {"input": self._input, "model": self._models, "output": self._output, "cache": self._cache}
        for name, check in sections.items():
            if name not in broken and name in self.data:
                with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
                    check()
        if "prompt" in broken or "prompt" not in self.data:
            return []
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            return [m.content for m in self._prompt().messages]
        return []

    def _path(self, value: str) -> Path:
        return (self.base / Path(value).expanduser()).absolute()

    def _input(self) -> InputSpec:
        raw = self.data["input"]
        path = raw["path"]
        fmt = raw.get("format") or infer_format(path)
        if fmt is None:
            self.error(
                ("input", "path"),
                f"cannot tell the format of '{path}'",
                "use .jsonl, .ndjson, .csv, .tsv, .parquet or a glob like docs/*.txt, or set input.format",
            )
            fmt = "jsonl"
        encoding = raw.get("encoding", "utf-8")
        try:
            "".encode(encoding)  # also refuses codecs that are not text encodings (rot13, base64)
        except LookupError:
            self.error(("input", "encoding"), f"unknown text encoding '{encoding}'", "e.g. utf-8, latin-1, utf-16")
            encoding = "utf-8"
        delimiter = raw.get("delimiter")
        if delimiter is not None and fmt not in ("csv", "tsv"):
            self.error(("input", "delimiter"), f"a delimiter applies to CSV and TSV inputs, not {fmt}", "remove it")
        spec = InputSpec(
            path=path,
            resolved=self._path(path),
            format=fmt,
            id=raw.get("id"),
            limit=raw.get("limit"),
            encoding=encoding,
            delimiter=delimiter,
        )
        source = Source(
            spec.resolved,
            fmt,
            display=display_path(spec.resolved),
            base_dir=self.base,
            confine=self.base if self.confined else None,
        )
        problem = source.check_exists() if self.check_input else None
        if problem:
            self.error(("input", "path"), problem, "paths are relative to the spec file")
        return spec

    def _prompt(self) -> PromptSpec:
        raw = self.data["prompt"]
        if "input" in raw:
            return PromptSpec((MessageTemplate("user", self._inline(("prompt", "input"))),), embed=True)
        if "messages" in raw:
            messages = tuple(
                MessageTemplate(m["role"], self._inline(("prompt", "messages", i, "content")), m.get("cache", False))
                for i, m in enumerate(raw["messages"])
            )
            return PromptSpec(messages)
        result = []
        if "system" in raw:
            result.append(MessageTemplate("system", self._inline(("prompt", "system"))))
        user = self._inline(("prompt", "user")) if "user" in raw else self._template_file()
        result.append(MessageTemplate("user", user))
        return PromptSpec(tuple(result))

    def _inline(self, path: tuple[str | int, ...]) -> TemplateSource:
        node: Any = self.data
        for part in path:
            node = node[part]
        key = ".".join(p if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        return TemplateSource(
            node, self.locator.file, self.locator.content_line(path), key, self.locator.content_column(path)
        )

    def _template_file(self) -> TemplateSource:
        value = self.data["prompt"]["user_file"]
        path = self._path(value)
        if self.confined and not is_inside(path, self.base):
            self.error(
                ("prompt", "user_file"),
                f"{value} is outside the spec's directory",
                "untrusted specs may only read files beside them",
            )
            return TemplateSource("", display_path(path), 1, "prompt.user_file")
        try:
            if path.exists() and not path.is_file():  # a directory, or a pipe or device read forever
                raise OSError(f"{value} is not a regular file")
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = "does not exist" if isinstance(error, FileNotFoundError) else f"cannot be read ({error})"
            self.error(("prompt", "user_file"), f"template file {value} {reason}", "paths are relative to the spec")
            text = ""
        return TemplateSource(text, display_path(path), 1, "prompt.user_file")

    def _models(self) -> tuple[ModelSpec, ...]:
        raw = self.data["model"]
        blocks = raw if isinstance(raw, list) else [raw]
        models = []
        labels: dict[str, int] = {}
        for i, block in enumerate(blocks):
            path: tuple[str | int, ...] = ("model", i) if isinstance(raw, list) else ("model",)
            model = self._model(block, path)
            if model.label in labels:
                self.error(
                    (*path, "label") if "label" in block else (*path, "name"),
                    f"model '{model.label}' is listed twice",
                    "give each entry a distinct `label` (used in output rows and batch names)",
                )
            labels[model.label] = i
            models.append(model)
        return tuple(models)

    def _model(self, block: Mapping[str, Any], path: tuple[str | int, ...]) -> ModelSpec:
        endpoint = block.get("endpoint", "chat")
        provider = endpoints.provider(block["provider"], endpoint)
        params = dict(block.get("params", {}))
        modelrules.check_params(self, block, path, provider.wire)
        refused = rules_for(provider.wire, block["name"]).refused
        for key in params:
            if key in refused:
                continue  # named by check_params
            if key not in provider.known_params:
                close = difflib.get_close_matches(key, sorted(provider.known_params), n=1, cutoff=0.6)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else (
                        f"not a {provider.name} request parameter batchspec knows; "
                        "put it under extra_params to send it anyway"
                    )
                )
                self.error(
                    (*path, "params", key),
                    f"unknown parameter '{key}' for {provider.name}",
                    hint,
                    at_key=True,
                )
            elif problem := param_problem(key, params[key]):
                self.error((*path, "params", key), problem, "see the provider's API reference")
        for key in sorted(OWN_FIELDS & set(block.get("extra_params", {}))):
            self.error(
                (*path, "extra_params", key),
                f"batchspec writes '{key}' itself",
                "set it through the model and prompt sections",
                at_key=True,
            )
        for key in sorted(provider.required_params - set(params) - set(block.get("extra_params", {}))):
            self.error((*path, "params"), f"{provider.name} requires params.{key}", "e.g. params: {max_tokens: 1024}")
        if params.get("n", 1) != 1:
            self.error((*path, "params", "n"), "n must be 1", "batchspec stores one output per record and model")
        schema = block.get("response_schema")
        if schema is not None:
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as error:
                self.error((*path, "response_schema"), f"not a valid JSON Schema: {error.message}")
            if "response_format" in params or "format" in (params.get("output_config") or {}):
                self.error(
                    (*path, "response_schema"),
                    "response_schema and params.response_format/output_config both ask for structured output",
                    "keep one",
                )
            else:
                modelrules.check_response_schema(self, schema, (*path, "response_schema"), provider.wire)
        return ModelSpec(
            provider=provider.name,
            name=block["name"],
            label=block.get("label", block["name"]),
            params=MappingProxyType(params),
            extra_params=MappingProxyType(dict(block.get("extra_params", {}))),
            base_url=self._base_url(block.get("base_url"), (*path, "base_url")),
            api_key_env=block.get("api_key_env", provider.default_api_key_env),
            response_schema=MappingProxyType(schema) if schema is not None else None,
            endpoint=endpoint,
            options=self._provider_options(block, path, provider),
        )

    def _provider_options(self, block: Mapping[str, Any], path: tuple[str | int, ...], provider: Provider) -> Any:
        """The model keys only some providers take (Provider.spec_keys); refused for the others."""
        for key in sorted(set(block) & (provider_spec_keys() - provider.spec_keys)):
            takers = ", ".join(p.name for p in PROVIDERS.values() if key in p.spec_keys)
            self.error((*path, key), f"'{key}' is for provider {takers}, not {provider.name}", "remove it", at_key=True)
        return MappingProxyType({key: block[key] for key in provider.spec_keys if key in block})

    def _execution(self, models: tuple[ModelSpec, ...]) -> ExecutionSpec:
        raw = self.data.get("execution", {})
        max_requests = raw.get("max_requests_per_batch")
        max_bytes = parse_size(raw["max_bytes_per_batch"]) if "max_bytes_per_batch" in raw else None
        if max_bytes is not None and max_bytes <= 0:
            self.error(("execution", "max_bytes_per_batch"), "no request fits in 0 bytes", "e.g. 100MB")
        for model in models:
            limits = get_provider(model.provider).limits
            if max_requests is not None and max_requests > limits.hard_max_requests:
                self.error(
                    ("execution", "max_requests_per_batch"),
                    f"{model.provider} accepts at most {limits.hard_max_requests:,} requests per batch",
                )
            if max_bytes is not None and max_bytes > limits.hard_max_bytes:
                self.error(
                    ("execution", "max_bytes_per_batch"),
                    f"{model.provider} accepts at most {limits.hard_max_bytes // 1_000_000} MB per batch",
                )
        rates = raw.get("rate_limits", {})
        poll_interval = self._duration(("execution", "poll_interval"), raw.get("poll_interval", 60))
        unreachable_after = self._duration(("execution", "unreachable_after"), raw.get("unreachable_after", 60))
        timeout = raw.get("request_timeout")
        request_timeout = self._duration(("execution", "request_timeout"), timeout) if timeout is not None else None
        return ExecutionSpec(
            mode=raw.get("mode", "batch"),
            max_requests_per_batch=max_requests,
            max_bytes_per_batch=max_bytes,
            max_concurrent_batches=raw.get("max_concurrent_batches", 4),
            poll_interval=poll_interval,
            unreachable_after=unreachable_after,
            request_timeout=request_timeout,
            max_attempts=raw.get("max_attempts", 3),
            rate_limits=RateLimits(rates.get("requests_per_minute"), rates.get("tokens_per_minute")),
            concurrency=raw.get("concurrency", 32),
            max_cost_usd=raw.get("max_cost_usd"),
            max_enqueued_tokens=self._enqueued_limits(raw.get("max_enqueued_tokens"), models),
            deadline=self._duration(("execution", "deadline"), raw["deadline"]) if "deadline" in raw else None,
        )

    def _enqueued_limits(self, value: int | dict[str, int] | None, models: tuple[ModelSpec, ...]) -> dict[str, int]:
        if value is None:
            return {}
        if isinstance(value, int):
            return {"*": value}
        names = {m.label for m in models} | {m.name for m in models}
        for key in value:
            if key not in names:
                self.error(
                    ("execution", "max_enqueued_tokens", key),
                    f"no model '{key}' in this spec",
                    f"use a model name or label: {', '.join(sorted(names))}",
                    at_key=True,
                )
        return dict(value)

    def _duration(self, path: tuple[str | int, ...], value: float | str) -> float:
        try:
            return parse_duration(value)
        except ValueError as error:
            self.error(path, str(error), "e.g. 60s, 5m")
            return 60.0

    def _cache(self) -> CacheSpec:
        raw = self.data.get("cache", {})
        caching = raw.get("prompt_caching", False)
        if caching and not self._has_cacheable_prefix():
            self.warn(
                ("cache", "prompt_caching"),
                "nothing to cache: the prompt has no system prompt or message marked `cache: true`",
            )
        path = raw.get("responses_path")
        return CacheSpec(
            prompt_caching=caching,
            ttl=raw.get("ttl", "5m"),
            responses=raw.get("responses", False),
            responses_path=self._path(path) if path else None,
        )

    def _has_cacheable_prefix(self) -> bool:
        prompt = self.data["prompt"]
        return "system" in prompt or any(
            m.get("cache") or m.get("role") == "system" for m in prompt.get("messages", [])
        )

    def _output(self) -> OutputSpec:
        raw = self.data["output"]
        path = self._path(raw["path"])
        fmt = raw.get("format") or OUTPUT_FORMATS.get(path.suffix.lower())
        if fmt is None:
            self.error(
                ("output", "path"),
                f"cannot tell the output format of '{raw['path']}'",
                "use .jsonl, .csv, .parquet, .sqlite or .db, or set output.format",
            )
            fmt = "jsonl"
        errors_path = self._path(raw["errors"]) if "errors" in raw else path.with_name(path.stem + ".errors.jsonl")
        errors_format = OUTPUT_FORMATS.get(errors_path.suffix.lower())
        if errors_format is None:
            self.error(
                ("output", "errors"),
                f"cannot tell the format of '{errors_path.name}'",
                "use .jsonl, .csv, .parquet, .sqlite or .db",
            )
            errors_format = "jsonl"
        if os.path.realpath(errors_path) == os.path.realpath(path):
            self.error(("output", "errors"), "the errors file is the output file", "give it its own path")
        include = raw.get("include")
        return OutputSpec(
            path=path,
            format=fmt,
            errors_path=errors_path,
            errors_format=errors_format,
            include=tuple(include) if include is not None else None,
        )

    def _base_url(self, value: str | None, path: tuple[str | int, ...]) -> str | None:
        """The URL as written, once it parses (the SDKs fail on a bad one only when sending)."""
        if value is None:
            return None
        try:
            parsed = urllib.parse.urlsplit(value)
            parsed.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError as error:
            self.error(path, f"not a valid URL: {error}", "e.g. http://localhost:8000/v1")
            return value
        if not parsed.hostname:
            self.error(path, "the URL has no host", "e.g. http://localhost:8000/v1")
        return value

    def _check_confined(self, state: Path | None, cache: CacheSpec) -> CacheSpec:
        """An untrusted spec reads no file outside its directory: not as a state, not as a cache
        (``state`` is None when the operator chose the state file with --state). The shared
        response cache is simply not read."""
        hint = "untrusted specs may only read files beside them"
        if state is not None and not is_inside(state, self.base):
            self.error(("state", "path"), f"{display_path(state)} is outside the spec's directory", hint)
        if cache.responses and cache.responses_path is None:
            self.warn(
                ("cache", "responses"),
                "untrusted spec: the shared response cache is not read, so 'cached' counts only requests "
                "repeated within this input",
            )
            return dataclasses.replace(cache, read_shared=False)
        if cache.responses_path is not None and not is_inside(cache.responses_path, self.base):
            outside = f"{display_path(cache.responses_path)} is outside the spec's directory"
            self.error(("cache", "responses_path"), outside, hint)
        return cache

    def _check_output_paths(self, output: OutputSpec, input_spec: InputSpec, state: Path, cache: CacheSpec) -> None:
        """Every run rewrites the outputs: neither may be a file the job reads or keeps."""
        kept = {os.path.realpath(f"{state}{suffix}"): "the state file" for suffix in ("", "-wal", "-shm", ".lock")}
        if cache.responses_path is not None:
            kept[os.path.realpath(cache.responses_path)] = "the response cache"
        source = os.path.realpath(input_spec.resolved)
        inputs = glob_pattern(source) if input_spec.format == "text" else re.compile(re.escape(source))
        for key, path in (("path", output.path), ("errors", output.errors_path)):
            real = os.path.realpath(path)
            what = kept.get(real)
            if what is None and inputs.fullmatch(real):
                what = "an input file"
            if what is not None:
                self.error(
                    ("output", key),
                    f"{display_path(path)} is {what}: every run rewrites it",
                    "write the output somewhere else",
                )
            elif path.exists() and not path.is_file():
                self.error(("output", key), f"{display_path(path)} is not a regular file", "give a file path")
            elif blocker := next((d for d in path.parents if d.exists() and not d.is_dir()), None):
                self.error(("output", key), f"{display_path(blocker)} is not a directory", "fix the path")

    def _check_prices(self, models: tuple[ModelSpec, ...], overrides: Mapping[str, Price]) -> None:
        for i, model in enumerate(models):
            if price_of(model, overrides) is None:
                listed = isinstance(self.data["model"], list)
                path: tuple[str | int, ...] = ("model", i, "name") if listed else ("model", "name")
                close = nearest_priced_for(model, overrides)
                did_you_mean = f"did you mean {' or '.join(repr(c) for c in close)}? otherwise " if close else ""
                self.warn(
                    path,
                    f"no price known for model '{model.name}': costs will be reported as unknown",
                    f"{did_you_mean}add it under `pricing:` in the spec",
                )


def glob_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` (a glob as the text input reads it) as a regular expression:
    ``*``, ``?`` and ``[...]`` stay inside one directory, ``**/`` spans any number of them."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
