"""The CPU path: a probe in a child process decides whether llama.cpp's extra buffer
types (AMX, repacking) may be used; a faulting fast path falls back to the safe one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bare_tui.core.generation import cpu_path
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from conftest import CACHE, GSM8K_SEEDS, run_cli


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch) -> Path:
    """A cache folder of its own, holding the assembled embedded base model already."""
    from bare_tui.core.generation import model_files

    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    base = model_files.embedded(model_files.EMBEDDED_BASE, CACHE).path
    (cache / "models" / base.name).symlink_to(base)
    monkeypatch.setenv("BARE_TUI_CACHE", str(cache))
    return cache


def test_a_forced_path_needs_no_probe_and_a_bad_setting_is_one_line(tmp_path):
    probing = cpu_path.Probing(tmp_path)
    assert cpu_path.choose(Path("/nonexistent.gguf"), "safe", probing).fast is False
    assert cpu_path.choose(Path("/nonexistent.gguf"), "FAST", probing).fast is True
    with pytest.raises(BareError, match="cpu_path must be one of auto, fast, safe"):
        cpu_path.choose(Path("/nonexistent.gguf"), "turbo", probing)


def test_the_safe_path_turns_extra_buffer_types_off():
    import llama_cpp.llama as llama_module

    with cpu_path.model_params(fast=False):
        assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is True
    with cpu_path.model_params(fast=True):
        assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_signals_are_named_for_people():
    import signal

    assert cpu_path.describe_signal(signal.SIGILL) == "illegal instruction (SIGILL)"
    assert cpu_path.describe_signal(signal.SIGKILL).startswith("killed")


@pytest.mark.models
def test_a_faulting_fast_path_falls_back_and_is_reported(tmp_path, fresh_cache, monkeypatch):
    """BARE_TUI_PROBE_FAULT=1 makes the probe child die with SIGILL, as the AMX path does
    on some VMs: the safe path is chosen, remembered apart from the real verdict,
    reported by `models` and `doctor`, and generation works."""
    env = {"BARE_TUI_PROBE_FAULT": "1", "BARE_TUI_CACHE": str(fresh_cache),
           "BARE_TUI_CPU_PATH": "auto"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from bare_tui.core.generation import model_files

    verdict = cpu_path.choose(model_files.embedded(model_files.EMBEDDED_INSTRUCT, CACHE).path,
                              "auto", cpu_path.Probing(fresh_cache, simulate_fault=True))
    assert not verdict.fast and "illegal instruction (SIGILL)" in verdict.reason
    cache = json.loads((fresh_cache / "cpu-path.json").read_text())
    assert [key for key in cache if key.endswith("simulated fault")] == list(cache)

    listed = run_cli("models", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "safe path" in listed.stdout and "SIGILL" in listed.stdout

    db = tmp_path / "w.db"
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", str(db),
                   env=env).returncode == 0
    drafted = run_cli("draft", "-n", "2", "--max-tokens", "8", "--parallel", "2",
                      "--db", str(db), env=env)
    assert drafted.returncode == 0, drafted.stderr
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM candidates") == 2
        params = json.loads(store.scalar("SELECT params FROM runs WHERE kind = 'draft'"))
        assert params["backend"]["cpu_path"] == "safe"

    doctor = run_cli("doctor", "--db", str(db), env=env)
    line = next(x for x in doctor.stdout.splitlines() if x.startswith("ok   CPU path"))
    assert "safe path" in line and "SIGILL" in line
    assert doctor.returncode == 0, doctor.stdout


@pytest.mark.models
def test_the_real_probe_on_this_machine(fresh_cache, capsys):
    from bare_tui.core.generation import model_files

    model = model_files.embedded(model_files.EMBEDDED_INSTRUCT, CACHE).path
    verdict, conclusive = cpu_path.probe(model, cpu_path.Probing(fresh_cache))
    with capsys.disabled():
        print(f"\nCPU path probe on this machine: {verdict.describe()} "
              f"(conclusive: {conclusive})")
    assert conclusive
    # The verdict agrees with a second look, and the safe path always runs.
    assert cpu_path.try_load(model, fast=True).ok is verdict.fast
    assert cpu_path.try_load(model, fast=False).ok


def test_a_remembered_verdict_is_used_until_forgotten(tmp_path):
    probing = cpu_path.Probing(tmp_path)
    assert cpu_path.known_verdict("auto", probing) is None
    cpu_path._write_cache(probing, cpu_path.Verdict(False, "probe said so", "probe"))
    remembered = cpu_path.known_verdict("auto", probing)
    assert (remembered.fast, remembered.reason, remembered.source) == (
        False, "probe said so", "cache")
    # no probe needed
    assert cpu_path.choose(Path("/not/probed.gguf"), "auto", probing) == remembered
    assert cpu_path.known_verdict("fast", probing).fast is True  # the setting wins
    # a simulated fault's verdict is kept apart from the real machine's
    assert cpu_path.known_verdict("auto", cpu_path.Probing(tmp_path, True)) is None
    cpu_path.forget(probing)  # bare-tui doctor --reprobe
    assert cpu_path.known_verdict("auto", probing) is None
