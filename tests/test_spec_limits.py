"""A spec or template from an untrusted pull request cannot make batchspec do unbounded work."""

from __future__ import annotations

import resource
import subprocess
import sys

from tests.conftest import Job


def validate(job: Job, text: str, *args: str, expect: int = 2) -> list[str]:
    job.spec_path.write_text(text, "utf-8")
    return job.cli("validate", "job.yaml", *args, expect=expect).stderr.splitlines()


def billion_laughs() -> str:
    lines = ["version: 1", "name: bomb", "bogus:", "  a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _one_gigabyte() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_alias_bomb_is_refused_at_the_alias_before_it_is_expanded(offline_job: Job) -> None:
    offline_job.spec_path.write_text(billion_laughs(), "utf-8")
    # Expanded, the spec needs gigabytes: under a 1 GB cap only a refusal before expansion exits 2.
    result = subprocess.run(
        [sys.executable, "-m", "batchspec", "validate", "--untrusted", "job.yaml"],
        cwd=offline_job.dir,
        capture_output=True,
        text=True,
        preexec_fn=_one_gigabyte,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "job.yaml:8:10: invalid YAML: aliases expand the spec past 10,000 values (at *d) "
        "(write the values out, or share fewer of them with `&anchor`/`*alias`)",
        "1 problem in the spec; nothing was sent.",
    ]


def test_alias_inside_its_own_anchor_is_refused_where_it_is_used(offline_job: Job) -> None:
    lines = validate(offline_job, "version: 1\nname: loop\nbogus: &a\n  - x\n  - *a\n")
    assert lines[0] == (
        "job.yaml:5:5: invalid YAML: alias *a is used inside the value it names "
        "(an alias must refer to a finished value)"
    )


def test_shared_params_through_anchors_still_work(offline_job: Job) -> None:
    text = offline_job.spec_path.read_text("utf-8").split("model:")[0] + (
        "model:\n"
        "  - {provider: openai, name: gpt-4o-mini, params: &shared {temperature: 0, max_tokens: 5}}\n"
        "  - {provider: openai, name: gpt-4o, params: *shared}\n"
        "output:\n  path: out/results.jsonl\n"
    )
    offline_job.spec_path.write_text(text, "utf-8")
    assert "2 models" in offline_job.cli("validate", "job.yaml").stdout
