from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bare_tui import config
from bare_tui.core.generation import model_files
from bare_tui.core.generation.backends import Backend
from bare_tui.core.inputs import recipes
from bare_tui.core.workspace.store import Store

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
# Derived artefacts only (the assembled GGUF, the CPU-path verdict): kept across tests,
# and across runs, so each is made once; settings and workspaces never live here.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's environment: no BARE_TUI_* variable or API key, a
    home and XDG folders of its own (so no ~/.config/bare-tui), and a working folder of
    its own (so no ./bare-tui.toml, and the default data/bare.db lands there)."""
    for name in list(os.environ):
        if name.startswith("BARE_TUI_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(CACHE))
    monkeypatch.chdir(tmp_path_factory.mktemp("work"))
GSM8K_SEEDS = ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"
# The cache folder the settings name (the assembled base model lives there).
CACHE = config.load().cache_dir
REVIEW_SEEDS = ROOT / "data" / "seeds" / "reviews.jsonl"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "bare.db") as opened:
        yield opened


@pytest.fixture
def gsm8k(store: Store) -> recipes.Recipe:
    return recipes.resolve(store, "gsm8k")


@pytest.fixture(scope="session")
def base_model() -> model_files.ModelFile:
    return model_files.resolve(None, "base", ROOT / "models", CACHE)


@pytest.fixture(scope="session")
def instruct_model() -> model_files.ModelFile:
    return model_files.resolve(None, "instruct", ROOT / "models", CACHE)


@pytest.fixture(scope="session")
def base_backend(base_model):
    from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions

    return LlamaCppBackend(base_model, LlamaOptions(ctx=2048))


@pytest.fixture(scope="session")
def instruct_backend(instruct_model):
    from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions

    return LlamaCppBackend(instruct_model, LlamaOptions(ctx=4096))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `bare-tui` as a user runs it, in a separate process."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bare_tui", *args], cwd=cwd or Path.cwd(), env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


class ScriptedBackend(Backend):
    """Replays fixed outputs: for pure-logic tests of the pipeline, next to the real ones."""

    def __init__(self, outputs: list[str]):
        self.outputs = list(outputs)
        self.calls: list[tuple[object, int]] = []

    def _next(self, request: object, seed: int):
        from bare_tui.core.generation.backends import Generation

        self.calls.append((request, seed))
        text = self.outputs[(len(self.calls) - 1) % len(self.outputs)]
        return Generation(text, 10, len(text.split()), 1.0, "stop")

    def complete(self, prompt, sampling, seed):
        return self._next(prompt, seed)

    def chat(self, messages, sampling, seed):
        return self._next(messages, seed)

    def describe(self):
        return {"backend": "scripted", "model": "scripted", "model_sha256": "0" * 64}


class SlowBackend(ScriptedBackend):
    """Takes a while per sample, so that jobs really overlap."""

    def _next(self, request: object, seed: int):
        import time

        time.sleep(0.02)
        return super()._next(request, seed)


def seeded_workspace(path: Path) -> Path:
    """A workspace with the 200 GSM8K seeds and nothing else."""
    from bare_tui.core.inputs.seeds import import_seeds

    with Store(path) as store:
        import_seeds(store, recipes.resolve(store, "gsm8k"), GSM8K_SEEDS)
    return path


@pytest.fixture
def server():
    """A hostile OpenAI-compatible server on 127.0.0.1 (tests/fake_server.py)."""
    from fake_server import FakeServer

    fake = FakeServer()
    yield fake
    fake.close()


def unrefined_parsed(conn) -> int:
    """Drafts that parsed and have no refinement (unparsed drafts are not refined)."""
    return conn.execute(
        "SELECT count(*) FROM candidates c WHERE c.fields IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM refinements r WHERE r.candidate_id = c.id)").fetchone()[0]


GOOD_DRAFT = "Question:\nAnn has 2 pens and buys 3. How many?\nAnswer:\n2 + 3 = 5\n#### 5\n"
BAD_DRAFT = "Question:\nBen has apples.\nAnswer:\nsome apples\n"


@pytest.fixture
def drafted(store, gsm8k):
    """A workspace with seeds, 3 drafts (the 2nd fails validation) and refinements of all."""
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs.seeds import import_seeds

    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT, BAD_DRAFT, GOOD_DRAFT]), 3)
    refined = GOOD_DRAFT.replace("Ann", "Anna")
    pipeline.refine(store, gsm8k, ScriptedBackend([refined, "no labels at all", refined]))
    return store


HOSTILE_DRAFT = (
    "Question:\n[bold red]Shout[/] [link=https://evil.example]click[/link]"
    " \x1b[2J\x1b]52;c;SGVsbG8=\x07 bell\x07 \u202eevil\nAnswer:\n#### 1\n"
)
REFINED = GOOD_DRAFT.replace("Ann", "Anna").replace("buys 3", "buys 4")


def make_review_workspace(path: Path, drafts: list[str] | None = None) -> Path:
    """A workspace with seeds and five drafted candidates, four of them refined:
    1 good, 2 failing checks, 3 good, 4 hostile text, 5 good but not refined."""
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs.seeds import import_seeds

    with Store(path) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        outputs = drafts or [GOOD_DRAFT, BAD_DRAFT, GOOD_DRAFT, HOSTILE_DRAFT]
        pipeline.draft(store, task, ScriptedBackend(outputs), len(outputs), rng_seed=1)
        pipeline.refine(store, task, ScriptedBackend([REFINED, "no labels", REFINED,
                                                      HOSTILE_DRAFT]), rng_seed=2)
        pipeline.draft(store, task, ScriptedBackend([GOOD_DRAFT]), len(outputs) + 1,
                       rng_seed=3)
    return path


@pytest.fixture
def review_db(tmp_path: Path) -> Path:
    return make_review_workspace(tmp_path / "review.db")


async def wait_until(pilot, condition, seconds: float = 120.0) -> None:
    """Let the app run until `condition()` holds (work in its threads, such as an
    export that embeds its texts first); fails when it never does."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the app never got there")


async def export_in_app(app, pilot, out: Path) -> None:
    """Export with the app's dialog (o) to `out`, the defaults otherwise; waits for the
    note that says it was written."""
    from textual.widgets import Input

    from bare_tui.tui.screens.modals import ExportScreen

    await pilot.press("o")
    assert isinstance(app.screen, ExportScreen)
    app.screen.query_one("#path", Input).value = str(out)
    app.screen.query_one("#path", Input).focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: any("dataset card" in n.message
                                        for n in app._notifications))


def make_app(db: Path, poll_s: float = 1.0, max_tokens: int | None = None, **settings):
    from bare_tui.config import Settings
    from bare_tui.tui.app import BareApp

    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
    return BareApp(Settings(db=db, reviewer=settings.pop("reviewer", "tester"), **settings),
                   task, poll_s=poll_s, max_tokens=max_tokens)


# Five drafts for the diversity tests: #4 is a planted near-duplicate of #1.
def item(question: str, answer: str) -> str:
    return f"Question:\n{question}\nAnswer:\n{answer}"


DRAFTS = [
    item("A baker sells 12 cakes a day for 5 days. How many cakes?", "12 * 5 = 60\n#### 60"),
    item("A train travels 60 km an hour for 3 hours. How far does it go?",
         "60 * 3 = 180\n#### 180"),
    item("Mia reads 20 pages a night. How many pages in a week?", "20 * 7 = 140\n#### 140"),
    item("A baker sells 12 cakes each day for 5 days. How many cakes in total?",
         "12 * 5 = 60\n#### 60"),
    item("A garden has 4 rows of 9 tulips. How many tulips?", "4 * 9 = 36\n#### 36"),
]
