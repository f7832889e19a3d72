"""Jobs that share a workspace and a machine: exact targets through reserved slots,
slots given back when a job dies, the CPU lease, and the worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.cpu_lock import CpuLock
from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.workspace.store import Store
from conftest import GOOD_DRAFT, GSM8K_SEEDS, SlowBackend, run_cli


def test_concurrent_draft_jobs_end_with_exactly_the_target(tmp_path):
    db = tmp_path / "w.db"
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
    results = []

    def job() -> None:
        with Store(db) as store:
            results.append(pipeline.draft(store, task, SlowBackend([GOOD_DRAFT]), 20))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Store(db) as store:
        assert pipeline.count_candidates(store, task) == 20
        assert sum(r.produced for r in results) == 20
        assert store.scalar("SELECT sum(reserved) FROM runs") == 0
        assert len({r.run_id for r in results if r.produced}) >= 2  # they did overlap


def test_a_dead_jobs_slots_are_given_back(tmp_path):
    """A run left 'running' by a process that is gone holds no slots."""
    db = tmp_path / "w.db"
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
        run_id = store.start_run({"kind": "draft", "task": "gsm8k", "model": "m",
                                  "target": 10})
        assert [store.reserve_slot("gsm8k", run_id, 10) for _ in range(4)] == [0, 1, 2, 3]
        assert pipeline.open_slots(store, task, 10) == 6
        store.update("runs", "id", run_id, {"pid": int(dead)})
        assert pipeline.open_slots(store, task, 10) == 10
        row = store.query("SELECT status, reserved FROM runs WHERE id = ?", (run_id,))[0]
        assert row == {"status": "interrupted", "reserved": 0}


def test_the_lease_queues_a_second_holder_and_frees_on_death(tmp_path):
    path = tmp_path / "cpu.lock"
    code = ("import sys, threading, time; from pathlib import Path;"
            "from bare_tui.core.generation.cpu_lock import CpuLock;"
            f"CpuLock(Path({str(path)!r})).acquire({{'task': 'gsm8k'}}, threading.Event());"
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        heard: list[str] = []
        stop = threading.Event()
        waiting = CpuLock(path)
        threading.Timer(0.6, stop.set).start()
        assert waiting.acquire({}, stop, heard.append) is False
        assert len(heard) == 1 and f"pid {holder.pid} task gsm8k" in heard[0]
        holder.kill()  # kill -9: the kernel drops the lock
        holder.wait()
        assert waiting.acquire({"task": "x"}, threading.Event()) is True
        assert waiting.holder()["pid"] == os.getpid()
        waiting.release()
    finally:
        holder.kill()


def _seeded(db: Path) -> None:
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db",
                   str(db)).returncode == 0


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bare_tui", *args],
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.models
@pytest.mark.parametrize("lease", ["on", "off"])
def test_two_cli_draft_jobs_at_once_end_with_exactly_n(tmp_path, lease):
    """Through the real CLI and its worker processes; with the lease the second job
    queues and says so, without it both draft side by side. Either way: exactly N."""
    db = tmp_path / "w.db"
    _seeded(db)
    env = {"BARE_TUI_LEASE": str(tmp_path / "cpu.lock") if lease == "on" else "off"}
    args = ("draft", "-n", "6", "--max-tokens", "8", "--parallel", "2", "--db", str(db))
    jobs = [_cli(*args, env=env) for _ in range(2)]
    outputs = [job.communicate(timeout=600) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM candidates") == 6
        assert store.scalar("SELECT sum(reserved) FROM runs") == 0
    if lease == "on":
        assert any("waiting for your other generation job" in err for _, err in outputs)


@pytest.mark.models
def test_kill_9_of_the_worker_gives_its_slots_back_and_says_why(tmp_path):
    db = tmp_path / "w.db"
    _seeded(db)
    job = _cli("draft", "-n", "40", "--max-tokens", "48", "--parallel", "4", "--db", str(db),
               env={"BARE_TUI_LEASE": "off"})
    worker_pid = None
    with Store(db) as store:
        for _ in range(600):
            row = store.query("SELECT pid, reserved FROM runs WHERE status = 'running'")
            if row and row[0]["reserved"] > 0 and store.scalar(
                    "SELECT count(*) FROM candidates") >= 1:
                worker_pid = row[0]["pid"]
                break
            time.sleep(0.1)
        assert worker_pid and worker_pid != job.pid
        # A CLI job is niced, so it shares the machine with other work.
        assert os.getpriority(os.PRIO_PROCESS, worker_pid) == os.getpriority(
            os.PRIO_PROCESS, 0) + 10
        os.kill(worker_pid, signal.SIGKILL)
        _, err = job.communicate(timeout=60)
        assert job.returncode == 1
        assert err.strip().splitlines()[-1] == ("error: the model process died: killed (out of "
                                                "memory, or kill -9) (SIGKILL); see "
                                                "`bare-tui doctor`")
        run = store.query("SELECT status, reserved, produced, error FROM runs")[0]
        assert (run["status"], run["reserved"]) == ("interrupted", 0)
        assert "SIGKILL" in run["error"]
        made = store.scalar("SELECT count(*) FROM candidates")
        assert made == run["produced"] >= 1
    # The next job continues to the target, exactly.
    again = run_cli("draft", "-n", str(made + 2), "--max-tokens", "8", "--db", str(db))
    assert again.returncode == 0, again.stderr
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM candidates") == made + 2


@pytest.mark.models
def test_ctrl_c_stops_the_worker_after_the_current_sample(tmp_path):
    db = tmp_path / "w.db"
    _seeded(db)
    job = _cli("draft", "-n", "40", "--max-tokens", "16", "--parallel", "1", "--db", str(db))
    with Store(db) as store:
        for _ in range(600):
            if store.scalar("SELECT count(*) FROM candidates"):
                break
            time.sleep(0.1)
        job.send_signal(signal.SIGINT)
        _, err = job.communicate(timeout=120)
        assert job.returncode == 130, err  # one Ctrl-C: stopped early, and says so
        assert "stopped after" in err
        run = store.query("SELECT status, reserved, produced FROM runs")[0]
        assert (run["status"], run["reserved"]) == ("cancelled", 0)
        assert store.scalar("SELECT count(*) FROM candidates") == run["produced"] < 40


def test_worker_messages_round_trip(tmp_path):
    from bare_tui import jobs
    from bare_tui.config import Settings
    from bare_tui.core.inputs.recipes import Sampling
    from bare_tui.worker import settings_from_json, settings_to_json

    for job in (jobs.Generate(task="gsm8k", target=5, base=Sampling(stop=("EXAMPLE DONE",)),
                              refine_sampling=Sampling(max_tokens=9), rng_seed=3),
                jobs.Judge(task="gsm8k", trials=2, limit=4, again=True),
                jobs.Compare(task="gsm8k", comparison=3, tasks={"base": "gsm8k~compare3"},
                             stream="gsm8k", n=8, judge_server="http://127.0.0.1:9"),
                jobs.Alternatives(task="gsm8k", candidate_id=7, k=2, kind="draft")):
        assert jobs.from_json(jobs.to_json(job)) == job
    with pytest.raises(TypeError):  # a misspelt field is an error, not a silent default
        jobs.from_json(jobs.to_json(jobs.Judge(task="t")).replace('"trials"', '"trails"'))
    settings = Settings(db=tmp_path / "w.db", parallel=3, cpu_path="safe",
                        keys={"accept": "y"}, config_path=tmp_path / "c.toml")
    assert settings_from_json(settings_to_json(settings)) == settings


def test_a_job_waiting_its_turn_says_so_on_a_pipe(tmp_path):
    """Output to a pipe (a script, `nohup`, `| tee`): the wait for the CPU is said at
    once, not only in the runs table. The job never reaches a model: it waits."""
    db = tmp_path / "w.db"
    _seeded(db)
    path = tmp_path / "cpu.lock"
    code = ("import threading, time; from pathlib import Path;"
            "from bare_tui.core.generation.cpu_lock import CpuLock;"
            f"CpuLock(Path({str(path)!r})).acquire({{'task': 'gsm8k'}}, threading.Event());"
            "print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    job = None
    try:
        assert holder.stdout.readline().strip() == "held"
        job = _cli("draft", "-n", "2", "--db", str(db), "--gpu-layers", "0",
                   env={"BARE_TUI_LEASE": str(path)})
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(iter(job.stderr.readline, "")),
                                  daemon=True)
        reader.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("waiting for your other" in line
                                                      for line in said):
            time.sleep(0.2)
        waited = " ".join(" ".join(said).split())
        assert f"waiting for your other generation job on this machine (pid {holder.pid}" \
            in waited, waited
        assert job.poll() is None  # still waiting its turn
        job.send_signal(signal.SIGINT)
        assert job.wait(timeout=60) == 130
    finally:
        holder.kill()
        if job is not None and job.poll() is None:
            job.kill()
