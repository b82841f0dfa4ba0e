"""`validate --online` / `plan --online`: each model looked up at its provider before money moves."""

from __future__ import annotations

import sys

from batchspec.errors import Diagnostic, SpecError
from batchspec.pricing import nearest_priced_for
from batchspec.providers.online import check_model
from batchspec.spec.model import JobSpec


def check_models_online(spec: JobSpec) -> None:
    """Print what each provider said; raise SpecError (exit 2) naming every model it does not have."""
    missing: list[Diagnostic] = []
    for i, model in enumerate(spec.models):
        result = check_model(model)
        print(
            f"online: {model.provider} {model.name}: {result.detail if result.exists is not False else 'missing'}",
            file=sys.stderr,
        )
        if result.exists is False:
            missing.append(_missing(spec, i, result.detail))
    if missing:
        raise SpecError(missing)


def _missing(spec: JobSpec, index: int, detail: str) -> Diagnostic:
    model = spec.models[index]
    path: tuple[str | int, ...] = ("model", index, "name")
    if spec.locator is not None and ("model", index) not in spec.locator.values:
        path = ("model", "name")
    close = [n for n in nearest_priced_for(model, spec.pricing) if n != model.name]
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "check the provider's model list"
    message = f"{model.provider} has no model '{model.name}' ({detail})"
    if spec.locator is None:
        return Diagnostic(str(spec.spec_path), 0, 0, "model.name", message, hint)
    return spec.locator.diagnostic(path, message, hint)
