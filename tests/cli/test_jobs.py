"""``stackml jobs`` and ``stackml worker`` through the real command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from stackml.store import open_store
from tests.cli.support import Invoke, assert_clean_failure
from tests.compute.conftest import TEST_ENV, worker_thread


def _submit(cli: Invoke, *args: str) -> str:
    result = cli("jobs", "submit", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_submit_run_inspect_retry(cli: Invoke, _isolated_env: Path) -> None:
    ok = _submit(cli, "--name", "hello", "--env", "WHO=world", "--", "sh", "-c", "echo hi $WHO")
    bad = _submit(cli, "--cpus", "0.5", "--", sys.executable, "-c", "raise SystemExit(7)")
    ls = cli("jobs", "ls")
    assert ls.exit_code == 0 and "hello" in ls.stdout and "queued" in ls.stdout
    worker = cli("worker", "--cpus", "2", "--until-idle", "--poll", "0.02", "--heartbeat", "0.2")
    assert worker.exit_code == 0, worker.output
    assert "worker stopped after 2 jobs" in worker.stderr
    logs = cli("jobs", "logs", ok)
    assert logs.exit_code == 0 and logs.stdout == "hi world\n"
    shown = json.loads(cli("jobs", "show", bad, "--json").stdout)
    assert shown["state"] == "failed" and shown["exit_code"] == 7
    assert shown["spec"]["cpus"] == 0.5
    human = cli("jobs", "show", ok)
    assert "succeeded" in human.stdout
    listed = json.loads(cli("jobs", "ls", "--state", "failed", "--json").stdout)
    assert [j["id"] for j in listed] == [bad]
    retried = cli("jobs", "retry", bad)
    assert retried.exit_code == 0 and retried.stdout.strip() == f"{bad} queued"
    cancelled = cli("jobs", "cancel", bad)
    assert cancelled.stdout.strip() == f"{bad} cancelled"
    assert_clean_failure(cli("jobs", "cancel", bad))  # already finished: a clean error
    workers = cli("jobs", "workers", "--all")
    assert workers.exit_code == 0 and "stopped" in workers.stdout


def test_submit_wait_follows_logs_to_the_end(cli: Invoke, _isolated_env: Path) -> None:
    store = open_store(str(_isolated_env))
    target_file = _isolated_env / "env.txt"
    try:
        with worker_thread(store):
            done = cli(
                "jobs",
                "submit",
                "--wait",
                "--target",
                "tests.compute.targets:write_env",
                "--args",
                json.dumps({"path": str(target_file)}),
                "--env",
                f"PYTHONPATH={TEST_ENV['PYTHONPATH']}",
            )
            assert done.exit_code == 0, done.output
            failed = cli("jobs", "submit", "-w", "--", "sh", "-c", "echo partial; exit 2")
            assert failed.exit_code == 1
            assert failed.stdout.splitlines()[1:] == ["partial"]
    finally:
        store.close()
    job_id = done.stdout.splitlines()[0]
    assert f"STACKML_JOB_ID={job_id}" in target_file.read_text()


def test_bad_input_is_refused_cleanly(cli: Invoke) -> None:
    assert_clean_failure(cli("jobs", "submit", "--env", "1BAD=x", "--", "true"))
    assert_clean_failure(cli("jobs", "submit", "--env", "NOEQUALS", "--", "true"))
    assert_clean_failure(cli("jobs", "submit", "--target", "not a target"))
    assert_clean_failure(cli("jobs", "submit", "--memory", "lots", "--", "true"))
    assert_clean_failure(cli("jobs", "submit", "--args", "{bad", "--target", "m:f"))
    assert_clean_failure(cli("jobs", "show", "missing"))
    assert_clean_failure(cli("worker", "--gpus", "a,b", "--until-idle"))
    assert_clean_failure(cli("worker", "--heartbeat", "5", "--lease", "1", "--until-idle"))


def test_spec_command(cli: Invoke) -> None:
    k8s = cli("jobs", "spec", "--gpus", "1", "--memory", "1G", "--", "python", "train.py")
    assert k8s.exit_code == 0, k8s.output
    manifest = yaml.safe_load(k8s.stdout)
    assert manifest["kind"] == "Job"
    resources = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "1", "memory": "1024Mi", "nvidia.com/gpu": "1"}
    slurm = cli("jobs", "spec", "--format", "slurm", "--cpus", "2", "--", "python", "t.py")
    assert "#SBATCH --cpus-per-task=2" in slurm.stdout
    assert slurm.stdout.rstrip().endswith("srun python t.py")
    assert_clean_failure(cli("jobs", "spec", "--format", "pbs", "--", "true"))


def test_quota_command(cli: Invoke) -> None:
    set_one = cli("jobs", "quota", "alice", "--gpus", "2", "--jobs", "5")
    assert set_one.exit_code == 0, set_one.output
    row = next(line for line in set_one.stdout.splitlines() if "alice" in line)
    assert [cell.strip() for cell in row.split("│") if cell.strip()] == ["alice", "-", "2", "5"]
    cleared = cli("jobs", "quota", "alice")
    assert "alice" not in cleared.stdout
    assert_clean_failure(cli("jobs", "quota", "bad\x01user", "--jobs", "1"))
