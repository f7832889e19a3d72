"""Which CPU path llama.cpp may take on this machine: fast (extra buffer types) or safe.

llama.cpp repacks weights into "extra buffer types" (AMX tiles, AVX repacking) for
faster matrix products. On some machines they fault: a Xeon in a VM that advertises AMX
the hypervisor does not really enable dies with SIGILL on the first batch. Whether they
work is found out once per llama-cpp-python version and CPU, by a probe in a child
process (a fault there costs nothing), and remembered in the user cache folder. When
the probe fails, models load with `use_extra_bufts = False`, which always runs.

The `cpu_path` setting (`[models] cpu_path` in the config, or `$BARE_TUI_CPU_PATH`)
forces a path: `fast`, `safe`, or `auto` (the probe; the default).
The `probe_fault` setting (`$BARE_TUI_PROBE_FAULT=1`) makes the probe child kill itself
with SIGILL, to test the fallback on machines where the fast path works; a simulated
verdict is remembered apart from the real one. Both come in a `Probing` value: this
module reads no setting itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bare_tui.errors import BareError

CHOICES = ("auto", "fast", "safe")
PROBE_TIMEOUT_S = 180
# Enough tokens that the matrix products take the batched (repacked, AMX) kernels, on
# every thread, as real prompts do.
PROBE_PROMPT = "EXAMPLE START\n" + "The quick brown fox jumps over the lazy dog. " * 12


@dataclass(frozen=True)
class Probing:
    """Where verdicts are remembered (the `cache_dir` setting), and whether the probe is
    told to fault (the `probe_fault` setting, for tests)."""

    cache: Path | None  # None: nothing is remembered, every choice probes
    simulate_fault: bool = False


@dataclass(frozen=True)
class Verdict:
    fast: bool  # load with llama.cpp's extra buffer types
    reason: str  # one line, for `models` and `doctor`
    source: str  # "probe", "cache" or "setting"

    def describe(self) -> str:
        path = "fast path (extra buffer types)" if self.fast else "safe path (no extra buffers)"
        return f"{path}: {self.reason}"


SIGNAL_NAMES = {
    signal.SIGILL: "illegal instruction",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "arithmetic fault",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "killed (out of memory, or kill -9)",
    signal.SIGTERM: "terminated",
}


def describe_signal(number: int) -> str:
    """'illegal instruction (SIGILL)' for a signal number."""
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"signal {number}"
    return f"{SIGNAL_NAMES.get(sig, sig.name)} ({sig.name})"


def cpu_signature() -> str:
    """The CPU as the probe's answer depends on it: vendor, model and feature flags."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("vendor_id", "model name", "flags", "Features", "CPU part"):
                info.setdefault(key, value.strip())
    except OSError:
        pass
    text = json.dumps({"machine": platform.machine(), **info}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "not installed"


def _cache_path(probing: Probing) -> Path | None:
    return probing.cache / "cpu-path.json" if probing.cache is not None else None


def _cache_key(probing: Probing) -> str:
    key = f"llama-cpp-python {llama_cpp_version()} | cpu {cpu_signature()}"
    # A simulated fault is remembered apart, so it never stands for the real machine.
    return key + (" | simulated fault" if probing.simulate_fault else "")


def _read_cache(probing: Probing) -> dict[str, Any]:
    path = _cache_path(probing)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(probing: Probing, verdict: Verdict | None) -> None:
    """Remember the verdict for this machine, or forget it (None)."""
    key = _cache_key(probing)
    data = _read_cache(probing)
    if verdict is None:
        data.pop(key, None)
    else:
        data[key] = {**asdict(verdict), "probed_at": time.time()}
    path = _cache_path(probing)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # probing again next time is slower, not wrong


def _forced(setting: str | None) -> Verdict | None:
    choice = (setting or "auto").strip().lower()
    if choice not in CHOICES:
        raise BareError(f"cpu_path must be one of {', '.join(CHOICES)}, got {setting!r}"
                        " (config [models] cpu_path or $BARE_TUI_CPU_PATH)")
    if choice == "auto":
        return None
    return Verdict(choice == "fast", "forced by the cpu_path setting", "setting")


def _cached(probing: Probing) -> Verdict | None:
    cached = _read_cache(probing).get(_cache_key(probing))
    if isinstance(cached, dict) and isinstance(cached.get("fast"), bool):
        return Verdict(cached["fast"], str(cached.get("reason", "")), "cache")
    return None


def choose(model_path: Path, setting: str | None, probing: Probing, *,
           threads: int | None = None) -> Verdict:
    """The path to load models with: forced by the `cpu_path` setting (config or
    $BARE_TUI_CPU_PATH), else the cached probe verdict, else a probe (in a child
    process), remembered for next time when it says something about the machine."""
    verdict = _forced(setting) or _cached(probing)
    if verdict is not None:
        return verdict
    verdict, conclusive = probe(model_path, probing, threads=threads)
    if conclusive:
        _write_cache(probing, verdict)
    return verdict


def forget(probing: Probing) -> None:
    """Drop this machine's remembered verdict, so the next load probes again."""
    _write_cache(probing, None)


def known_verdict(setting: str | None, probing: Probing) -> Verdict | None:
    """The verdict in force without probing: forced or cached; None when not probed."""
    return _forced(setting) or _cached(probing)


def _probe_model(fallback: Path, probing: Probing) -> Path:
    """The embedded instruct model when installed (small, and its quantisation takes
    the repacked and AMX kernels), so the verdict is about the machine, not one file."""
    from bare_tui.core.generation import model_files

    try:
        return model_files.embedded(model_files.EMBEDDED_INSTRUCT, None).path
    except BareError:
        return fallback


def probe(model_path: Path, probing: Probing, *, threads: int | None = None
          ) -> tuple[Verdict, bool]:
    """Load a model with the extra buffer types in a child process and decode a batch on
    every thread. Returns the verdict and whether it is conclusive: a fault by a signal
    is; a model that fails to load either way says nothing about the machine."""
    target = _probe_model(model_path, probing)
    outcome = try_load(target, fast=True, threads=threads,
                       simulate_fault=probing.simulate_fault)
    if outcome.ok:
        return Verdict(True, f"probe passed on {target.name}", "probe"), True
    verdict = Verdict(False, f"the fast path failed its probe: {outcome.problem}", "probe")
    if outcome.signalled:
        return verdict, True
    return verdict, try_load(target, fast=False, threads=threads).ok


@dataclass(frozen=True)
class Outcome:
    ok: bool
    problem: str = ""  # one line when not ok
    seconds: float = 0.0
    signalled: bool = False  # the child was killed by a signal (a fault, not an error)


def try_load(model_path: Path, *, fast: bool, threads: int | None = None,
             timeout: float = PROBE_TIMEOUT_S, simulate_fault: bool = False) -> Outcome:
    """Load a model and decode one batch in a child process, reporting how it ended
    (`simulate_fault`: the child dies with SIGILL on the fast path, as a faulting CPU's
    would)."""
    mode = ("fast-fault" if simulate_fault else "fast") if fast else "safe"
    command = [sys.executable, "-m", "bare_tui.core.generation.cpu_path", str(model_path), mode,
               str(threads or os.cpu_count() or 1)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Outcome(False, f"no answer in {timeout:.0f} s", timeout)
    except OSError as exc:
        return Outcome(False, f"cannot start a probe process: {exc}")
    seconds = time.perf_counter() - started
    if done.returncode < 0:
        return Outcome(False, f"died: {describe_signal(-done.returncode)}", seconds, True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return Outcome(False, f"exit status {done.returncode}: {last[:200]}", seconds)
    return Outcome(True, "", seconds)


@contextlib.contextmanager
def model_params(fast: bool) -> Iterator[None]:
    """Make `Llama(...)` load with or without extra buffer types.

    `Llama` takes no argument for it; it builds its model parameters from
    `llama_model_default_params()`, so those defaults are adjusted while it loads.
    Loading happens on one thread at a time (one `Llama` per model per thread)."""
    import llama_cpp.llama as llama_module

    if fast:
        yield
        return
    lib = llama_module.llama_cpp
    original = lib.llama_model_default_params

    def safe_defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = safe_defaults
    try:
        yield
    finally:
        lib.llama_model_default_params = original


def _probe_child(model_path: str, mode: str, threads: int) -> int:
    """Child side of `try_load`: exit 0 when a batch decodes and a token samples."""
    if mode == "fast-fault":
        os.kill(os.getpid(), signal.SIGILL)
    from llama_cpp import Llama

    with model_params(mode == "fast"):
        llama = Llama(model_path=model_path, n_ctx=512, n_threads=threads,
                      n_threads_batch=threads, n_gpu_layers=0, verbose=False)
    out = llama.create_completion(PROBE_PROMPT, max_tokens=4, temperature=0.0, seed=1)
    return 0 if out["choices"] else 1


if __name__ == "__main__":
    sys.exit(_probe_child(sys.argv[1], sys.argv[2], int(sys.argv[3])))
