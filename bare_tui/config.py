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
    lease_s = 60                    # a queue item on a silent window's screen is free after

    [diversity]
    auto_embed = true               # embed new texts after each draft/refine/run
    # model = "/models/my-sentence-transformer"   # default: packaged all-MiniLM-L6-v2
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bare_tui.core.schema import Flag, Number, Table, Text, Whole
from bare_tui.errors import BareError
from bare_tui.text import has_surrogates, storable

ENV = {
    "db": "BARE_TUI_DB",
    "models_dir": "BARE_TUI_MODELS_DIR",
    "base": "BARE_TUI_BASE",
    "instruct": "BARE_TUI_INSTRUCT",
    "gpu_layers": "BARE_TUI_GPU_LAYERS",
    "ctx": "BARE_TUI_CTX",
    "threads": "BARE_TUI_THREADS",
    "parallel": "BARE_TUI_PARALLEL",
    "cpu_path": "BARE_TUI_CPU_PATH",
    "server": "BARE_TUI_SERVER",
    "base_server": "BARE_TUI_BASE_SERVER",
    "instruct_server": "BARE_TUI_INSTRUCT_SERVER",
    "concurrency": "BARE_TUI_CONCURRENCY",
    "server_timeout": "BARE_TUI_SERVER_TIMEOUT",
    "auto_embed": "BARE_TUI_AUTO_EMBED",
    "embedding_model": "BARE_TUI_EMBEDDING_MODEL",
    "reviewer": "BARE_TUI_REVIEWER",
    "overlap": "BARE_TUI_OVERLAP",
    "lease_s": "BARE_TUI_LEASE_S",
}
# config-file location of each setting: (table, key)
FILE_KEYS = {
    "db": ("workspace", "db"),
    "reviewer": ("workspace", "reviewer"),
    "models_dir": ("models", "dir"),
    "base": ("models", "base"),
    "instruct": ("models", "instruct"),
    "gpu_layers": ("models", "gpu_layers"),
    "ctx": ("models", "ctx"),
    "threads": ("models", "threads"),
    "parallel": ("models", "parallel"),
    "cpu_path": ("models", "cpu_path"),
    "server": ("server", "url"),
    "base_server": ("server", "base_url"),
    "instruct_server": ("server", "instruct_url"),
    "concurrency": ("server", "concurrency"),
    "server_timeout": ("server", "timeout_s"),
    "auto_embed": ("diversity", "auto_embed"),
    "embedding_model": ("diversity", "model"),
    "overlap": ("review", "overlap"),
    "lease_s": ("review", "lease_s"),
}
INTEGERS = {"gpu_layers", "ctx", "threads", "parallel", "concurrency"}
AT_LEAST = {"gpu_layers": -1, "ctx": 1, "threads": 1, "parallel": 1, "concurrency": 1}
AT_MOST = 1 << 20  # no count here is larger; a bigger one is a typo
# settings that are numbers: their lowest and highest values, and unit
NUMBERS = {"server_timeout": (0.1, 86_400, " seconds"), "lease_s": (0.1, 86_400, " seconds"),
           "overlap": (0, 1, " (a share of the items)")}
PATHS = {"db", "models_dir"}
BOOLEANS = {"auto_embed"}

# The config file's shape: every table and key it may hold, and their types.
CONFIG_SHAPE = Table({
    "workspace": Table({"db": Text(nonempty=True), "reviewer": Text(nonempty=True)},
                       example='[workspace] with db = "data/bare.db"'),
    "models": Table({
        "dir": Text(nonempty=True), "base": Text(nonempty=True), "instruct": Text(nonempty=True),
        "gpu_layers": Whole(-1, AT_MOST), "ctx": Whole(1, AT_MOST), "threads": Whole(1, AT_MOST),
        "parallel": Whole(1, AT_MOST), "cpu_path": Text(nonempty=True),
    }, example="[models] with ctx = 4096"),
    "server": Table({
        "url": Text(nonempty=True), "base_url": Text(nonempty=True),
        "instruct_url": Text(nonempty=True), "concurrency": Whole(1, AT_MOST),
        "timeout_s": Number(minimum=0.1),
    }, example='[server] with url = "http://127.0.0.1:8000"'),
    "review": Table({"overlap": Number(minimum=0), "lease_s": Number(minimum=0.1)},
                    example="[review] with overlap = 0.1"),
    "diversity": Table({"auto_embed": Flag(), "model": Text(nonempty=True)},
                       example="[diversity] with auto_embed = true"),
    "keys": Table(values=Text(nonempty=True), example='[keys] with accept = "y"'),
})


def _default_reviewer() -> str:
    """The login name; bytes of it that are not UTF-8 (a Latin-1 login) become escapes,
    so that every decision can still be stored under it."""
    try:
        return storable(os.environ.get("USER") or getpass.getuser())
    except (KeyError, OSError):
        return "reviewer"


@dataclass(frozen=True)
class Settings:
    db: Path = Path("data/bare.db")
    models_dir: Path = Path("models")
    base: str | None = None
    instruct: str | None = None
    gpu_layers: int | None = None
    ctx: int = 4096
    threads: int | None = None
    parallel: int | None = None
    cpu_path: str = "auto"  # llama.cpp's extra buffer types: fast, safe, auto (probe)
    server: str | None = None  # an OpenAI-compatible engine for both roles
    base_server: str | None = None
    instruct_server: str | None = None
    concurrency: int = 8
    server_timeout: float = 600.0  # seconds one request to a serving engine may take
    auto_embed: bool = False  # embed new texts after every generation job
    embedding_model: str | None = None  # None: the packaged all-MiniLM-L6-v2
    reviewer: str = field(default_factory=_default_reviewer)
    overlap: float = 0.0  # share of items routed to two reviewers
    lease_s: float = 60.0  # how long a review window's lease outlives its last word
    keys: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def server_for(self, role: str) -> str | None:
        return getattr(self, f"{role}_server") or self.server

    @property
    def api_key(self) -> str | None:
        """$BARE_TUI_API_KEY only: a key meant for one provider (OPENAI_API_KEY) is
        never sent to whatever server --server names."""
        return os.environ.get("BARE_TUI_API_KEY") or None


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
    if name in INTEGERS:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise BareError(f"{origin}: {name} must be a whole number, got {value!r}") from None
        if not AT_LEAST[name] <= number <= AT_MOST:
            raise BareError(f"{origin}: {name} must be between {AT_LEAST[name]} and {AT_MOST}, "
                            f"got {number}")
        return number
    if name in NUMBERS:
        low, high, unit = NUMBERS[name]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BareError(f"{origin}: {name} must be a number, got {value!r}") from None
        if not low <= number <= high:
            raise BareError(f"{origin}: {name} must be between {low:g} and {high:g}{unit}, "
                            f"got {value!r}")
        return number
    if name in PATHS:
        return Path(os.path.expanduser(str(value)))
    if name in BOOLEANS:
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
        for name, (table, key) in FILE_KEYS.items():
            if key in data.get(table, {}):
                values[name] = _coerce(name, data[table][key], str(path))
        values["keys"] = {str(k): str(v) for k, v in data.get("keys", {}).items()}
        values["config_path"] = path
    for name, variable in ENV.items():
        if os.environ.get(variable):
            values[name] = _coerce(name, os.environ[variable], f"${variable}")
    for name, value in flags.items():
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    return replace(Settings(), **values)
