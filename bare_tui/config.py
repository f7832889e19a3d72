"""Settings from, in rising precedence: defaults, a TOML config file, environment, flags.

Config file (first found): --config PATH, $BARE_TUI_CONFIG, ./bare-tui.toml,
~/.config/bare-tui/config.toml. Example:

    [workspace]
    db = "data/bare.db"
    reviewer = "alice"

    [models]
    dir = "models"
    base = "gemma3-270m"            # embedded name, a path, or a file name in models/
    instruct = "smollm2-135m-instruct"
    gpu_layers = -1                 # -1: all; 0: CPU only
    ctx = 4096
    threads = 8
    parallel = 16                   # sequences decoded at once (default: 16 CPU, 64 GPU)
    cpu_path = "auto"               # fast | safe | auto: llama.cpp's extra buffer types
                                    # (AMX, repacking), probed once per machine

    [server]                        # an OpenAI-compatible engine instead of local GGUFs;
    url = "http://127.0.0.1:8000"   # then base/instruct above are the served model names
    # base_url = ...                # one engine per role, if they differ
    # instruct_url = ...
    concurrency = 32                # requests in flight; the key comes from $BARE_TUI_API_KEY
    timeout_s = 600                 # how long one request may take

    [review]
    overlap = 0.1                   # share of items each decided by two reviewers
    blind = true                    # a doubled item's second reviewer sees it undecided
    lease_s = 60                    # a queue item on a silent window's screen is free after

    [diversity]
    auto_embed = true               # embed new texts after each draft/refine/run
    # model = "/models/my-sentence-transformer"   # default: packaged all-MiniLM-L6-v2
    backend = "auto"                # auto | onnx | torch: what runs a local model
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bare_tui.core.generation.cpu_path import Probing
from bare_tui.core.inputs.schema import Flag, Number, Table, Text, Whole
from bare_tui.errors import BareError
from bare_tui.text import has_surrogates, storable

if TYPE_CHECKING:
    from bare_tui.core.measures.embeddings import Embedder

AT_MOST = 1 << 20  # no count here is larger; a bigger one is a typo


@dataclass(frozen=True)
class Setting:
    """How one setting is given: its kind ("text", "path", "int", "float", "bool"), its
    environment variable, its place in the config file (table, key), its bounds, and
    whether commands that take settings have a --flag for it."""

    kind: str
    env: str | None = None
    file: tuple[str, str] | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    flag: bool = False


def setting(default: Any = None, kind: str = "text", *, factory: Any = None,
            **how: Any) -> Any:
    """A `Settings` field, declared once: everything else is derived from it."""
    meta = {"setting": Setting(kind, **how)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _default_reviewer() -> str:
    """The login name; bytes of it that are not UTF-8 (a Latin-1 login) become escapes,
    so that every decision can still be stored under it."""
    try:
        return storable(os.environ.get("USER") or getpass.getuser())
    except (KeyError, OSError):
        return "reviewer"


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bare-tui"


SECONDS = " seconds"


@dataclass(frozen=True)
class Settings:
    db: Path = setting(Path("data/bare.db"), "path", env="BARE_TUI_DB",
                       file=("workspace", "db"), flag=True)
    models_dir: Path = setting(Path("models"), "path", env="BARE_TUI_MODELS_DIR",
                               file=("models", "dir"))
    base: str | None = setting(env="BARE_TUI_BASE", file=("models", "base"), flag=True)
    instruct: str | None = setting(env="BARE_TUI_INSTRUCT", file=("models", "instruct"),
                                   flag=True)
    gpu_layers: int | None = setting(None, "int", env="BARE_TUI_GPU_LAYERS",
                                     file=("models", "gpu_layers"), low=-1, flag=True)
    ctx: int = setting(4096, "int", env="BARE_TUI_CTX", file=("models", "ctx"), low=1,
                       flag=True)
    threads: int | None = setting(None, "int", env="BARE_TUI_THREADS",
                                  file=("models", "threads"), low=1, flag=True)
    parallel: int | None = setting(None, "int", env="BARE_TUI_PARALLEL",
                                   file=("models", "parallel"), low=1, flag=True)
    # llama.cpp's extra buffer types: fast, safe, auto (probe)
    cpu_path: str = setting("auto", env="BARE_TUI_CPU_PATH", file=("models", "cpu_path"),
                            flag=True)
    # an OpenAI-compatible engine for both roles, or one per role
    server: str | None = setting(env="BARE_TUI_SERVER", file=("server", "url"), flag=True)
    base_server: str | None = setting(env="BARE_TUI_BASE_SERVER",
                                      file=("server", "base_url"), flag=True)
    instruct_server: str | None = setting(env="BARE_TUI_INSTRUCT_SERVER",
                                          file=("server", "instruct_url"), flag=True)
    concurrency: int = setting(8, "int", env="BARE_TUI_CONCURRENCY",
                               file=("server", "concurrency"), low=1, flag=True)
    # seconds one request to a serving engine may take, its whole reply included
    server_timeout: float = setting(600.0, "float", env="BARE_TUI_SERVER_TIMEOUT",
                                    file=("server", "timeout_s"), low=0.1, high=86_400,
                                    unit=SECONDS, flag=True)
    # embed new texts after every generation job
    auto_embed: bool = setting(False, "bool", env="BARE_TUI_AUTO_EMBED",
                               file=("diversity", "auto_embed"))
    # None: the packaged all-MiniLM-L6-v2; with embedding_server, the served model's name
    embedding_model: str | None = setting(env="BARE_TUI_EMBEDDING_MODEL",
                                          file=("diversity", "model"))
    # an OpenAI-compatible engine serving the embedding model at /v1/embeddings
    embedding_server: str | None = setting(env="BARE_TUI_EMBEDDING_SERVER",
                                           file=("diversity", "server"), flag=True)
    # what runs a local embedding model: auto (ONNX Runtime where it can, else PyTorch),
    # onnx or torch
    embedding_backend: str = setting("auto", env="BARE_TUI_EMBEDDING_BACKEND",
                                     file=("diversity", "backend"))
    reviewer: str = setting(factory=_default_reviewer, env="BARE_TUI_REVIEWER",
                            file=("workspace", "reviewer"))
    # share of items routed to two reviewers
    overlap: float = setting(0.0, "float", env="BARE_TUI_OVERLAP", file=("review", "overlap"),
                             low=0, high=1, unit=" (a share of the items)", flag=True)
    # with overlap, the second reviewer of a doubled item sees it undecided: not the first
    # one's decision, tags or edit, until they have decided it themselves
    blind: bool = setting(True, "bool", env="BARE_TUI_BLIND", file=("review", "blind"),
                          flag=True)
    # how long a review window's lease outlives its last word
    lease_s: float = setting(60.0, "float", env="BARE_TUI_LEASE_S", file=("review", "lease_s"),
                             low=0.1, high=86_400, unit=SECONDS)
    # how long a write waits for another process's lock on the workspace
    busy_timeout: float = setting(30.0, "float", env="BARE_TUI_BUSY_TIMEOUT_S", low=0,
                                  high=86_400, unit=SECONDS)
    # the file of the CPU lock your jobs take turns on (core/generation/cpu_lock.py), or "off"
    cpu_lock: str | None = setting(env="BARE_TUI_LEASE")
    # where the embedded base model is assembled, file hashes, CPU verdicts and the
    # embedding model's ONNX export are kept
    cache_dir: Path = setting(kind="path", factory=_default_cache, env="BARE_TUI_CACHE")
    # for tests: the CPU probe's child dies with SIGILL, as a faulting fast path does
    probe_fault: bool = setting(False, "bool", env="BARE_TUI_PROBE_FAULT")
    keys: dict[str, str] = field(default_factory=dict)  # the config file's [keys] table
    config_path: Path | None = None  # the config file these came from

    @property
    def embedder(self) -> Embedder:
        """The embedding model as core/measures/embeddings.py takes it: a folder, the
        packaged default (None) or a served model (`URL#MODEL`), its backend and cache."""
        from bare_tui.core.measures.embeddings import Embedder, served

        name = (served(self.embedding_server, self.embedding_model) if self.embedding_server
                else self.embedding_model)
        return Embedder(name, self.embedding_backend, self.cache_dir)

    def server_for(self, role: str) -> str | None:
        return getattr(self, f"{role}_server") or self.server

    @property
    def api_key(self) -> str | None:
        """$BARE_TUI_API_KEY only: a key meant for one provider (OPENAI_API_KEY) is
        never sent to whatever server --server names."""
        return os.environ.get("BARE_TUI_API_KEY") or None

    @property
    def probing(self) -> Probing:
        """How the CPU path is probed and remembered."""
        return Probing(self.cache_dir, self.probe_fault)


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(Settings)
                                if "setting" in f.metadata}
FLAGS = tuple(name for name, how in SETTINGS.items() if how.flag)
TABLE_EXAMPLES = {"workspace": '[workspace] with db = "data/bare.db"',
                  "models": "[models] with ctx = 4096",
                  "server": '[server] with url = "http://127.0.0.1:8000"',
                  "review": "[review] with overlap = 0.1",
                  "diversity": "[diversity] with auto_embed = true"}


def _file_shape(how: Setting) -> Any:
    if how.kind == "int":
        return Whole(int(how.low if how.low is not None else -AT_MOST), AT_MOST)
    if how.kind == "float":
        return Number(minimum=how.low)
    if how.kind == "bool":
        return Flag()
    return Text(nonempty=True)


def _config_shape() -> Table:
    """The config file's shape: every table and key it may hold, and their types."""
    tables: dict[str, dict[str, Any]] = {}
    for how in SETTINGS.values():
        if how.file is not None:
            table, key = how.file
            tables.setdefault(table, {})[key] = _file_shape(how)
    shapes = {table: Table(keys, example=TABLE_EXAMPLES[table])
              for table, keys in tables.items()}
    shapes["keys"] = Table(values=Text(nonempty=True), example='[keys] with accept = "y"')
    return Table(shapes)


CONFIG_SHAPE = _config_shape()


def config_file(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise BareError(f"config file not found: {path}")
        return path
    for candidate in (os.environ.get("BARE_TUI_CONFIG"), "bare-tui.toml",
                      Path.home() / ".config" / "bare-tui" / "config.toml"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _coerce(name: str, value: Any, origin: str) -> Any:
    how = SETTINGS[name]
    if how.kind == "int":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise BareError(f"{origin}: {name} must be a whole number, got {value!r}") from None
        low = int(how.low) if how.low is not None else -AT_MOST
        if not low <= number <= AT_MOST:
            raise BareError(f"{origin}: {name} must be between {low} and {AT_MOST}, "
                            f"got {number}")
        return number
    if how.kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BareError(f"{origin}: {name} must be a number, got {value!r}") from None
        if not how.low <= number <= how.high:
            raise BareError(f"{origin}: {name} must be between {how.low:g} and "
                            f"{how.high:g}{how.unit}, got {value!r}")
        return number
    if how.kind == "path":
        return Path(os.path.expanduser(str(value)))
    if how.kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise BareError(f"{origin}: {name} must be true or false, got {value!r}")
    text = str(value)
    if has_surrogates(text):
        raise BareError(f"{origin}: {name} is not UTF-8 text; set it again in UTF-8")
    return text


def load(config: str | None = None, **flags: Any) -> Settings:
    """Settings for one command; `flags` holds the command-line values (None = unset)."""
    values: dict[str, Any] = {}
    path = config_file(config)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise BareError(f"config {path} is not UTF-8 text (bad byte at offset "
                            f"{exc.start})") from None
        except (OSError, tomllib.TOMLDecodeError, RecursionError) as exc:
            raise BareError(f"cannot read config {path}: {exc}") from None
        try:
            CONFIG_SHAPE.check(data, "")
        except BareError as exc:
            raise BareError(f"config {path}: {exc}") from None
        for name, how in SETTINGS.items():
            if how.file is not None and how.file[1] in data.get(how.file[0], {}):
                values[name] = _coerce(name, data[how.file[0]][how.file[1]], str(path))
        values["keys"] = {str(k): str(v) for k, v in data.get("keys", {}).items()}
        values["config_path"] = path
    for name, how in SETTINGS.items():
        if how.env and os.environ.get(how.env):
            values[name] = _coerce(name, os.environ[how.env], f"${how.env}")
    for name, value in flags.items():
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    return replace(Settings(), **values)
