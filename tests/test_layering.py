"""The guard rails that keep the layers apart: core/ never imports the UI or the
settings (an import rule in bare_tui/core/ruff.toml), light commands never load the
heavy libraries, and the suite never touches the developer's own workspace or config."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GSM8K_SEEDS, ROOT, make_review_workspace, run_cli

RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.parametrize(("module", "banned"), [
    ("from textual.app import App", True), ("import rich.text", True),
    ("from bare_tui.config import Settings", True), ("from bare_tui.tui import keys", True),
    ("from bare_tui.core import store", False), ("import numpy", False),
])
def test_core_may_not_import_the_ui_or_the_settings(module: str, banned: bool):
    name = module.split()[1] if module.startswith("import ") else module.split()[-1]
    code = f"{module}\n\nprint({name})\n"
    for where, rule_applies in (("bare_tui/core/x.py", banned), ("bare_tui/tui/x.py", False)):
        result = subprocess.run([str(RUFF), "check", "--stdin-filename", where, "-"],
                                input=code, capture_output=True, text=True, cwd=ROOT)
        assert (result.returncode == 1) == rule_applies, result.stdout
        assert ("TID251" in result.stdout) == rule_applies


@pytest.mark.parametrize("where", ["bare_tui/tui/screens/x.py", "bare_tui/tui/widgets/x.py"])
def test_screens_and_widgets_may_not_import_the_app(where: str):
    """No import circle between the app and its screens: a screen knows nothing of the
    app's insides (bare_tui/tui/screens/ruff.toml)."""
    code = "from bare_tui.tui.app import BareApp\n\nprint(BareApp)\n"
    result = subprocess.run([str(RUFF), "check", "--stdin-filename", where, "-"],
                            input=code, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1 and "TID251" in result.stdout, result.stdout
    allowed = subprocess.run([str(RUFF), "check", "--stdin-filename", "bare_tui/cli/x.py",
                              "-"], input=code, capture_output=True, text=True, cwd=ROOT)
    assert allowed.returncode == 0, allowed.stdout


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (ROOT / "bare_tui").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every bare_tui module this one imports, at the top or inside a function (lazily);
    imports only for type checkers (`if TYPE_CHECKING:`) do not run, so do not count."""
    tree = ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for inner in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {module for module in found if module in modules and module != name}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                circles.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return circles


def test_no_import_circle_anywhere_lazy_imports_included():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["bare_tui.worker"] >= {"bare_tui.jobs", "bare_tui.worker_jobs"}
    assert import_circles(graph) == []
    # The check finds a circle when there is one.
    planted = {**graph, "bare_tui.worker_jobs": graph["bare_tui.worker_jobs"]
               | {"bare_tui.worker"}}  # as it was: worker_jobs took its types from worker
    assert import_circles(planted) == [["bare_tui.worker", "bare_tui.worker_jobs"]]


# core/'s rooms in the order of the data flow: a room imports only those before it.
CORE_ROOMS = ["workspace", "inputs", "generation", "measures", "reviewing", "datasets"]


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["bare_tui", "core"] and len(parts) > 3 else None


def test_core_is_in_rooms_that_import_one_way_lazy_imports_included():
    core = ROOT / "bare_tui" / "core"
    rooms = sorted(path.name for path in core.iterdir() if (path / "__init__.py").is_file())
    assert rooms == sorted(CORE_ROOMS)
    assert sorted(path.name for path in core.glob("*.py")) == ["__init__.py", "doctor.py"]
    for room in CORE_ROOMS:  # each says what it holds, in a paragraph
        assert len(ast.get_docstring(ast.parse((core / room / "__init__.py").read_text()))
                   or "") > 200, room
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    upward = [(name, other) for name, imported in graph.items() if _room(name)
              for other in imported
              if _room(other) and CORE_ROOMS.index(_room(other)) > CORE_ROOMS.index(_room(name))]
    assert upward == []
    assert any(_room(o) == "workspace" for o in graph["bare_tui.core.datasets.export"])


@pytest.mark.parametrize("room", CORE_ROOMS)
def test_ruff_refuses_an_import_against_the_flow(room: str):
    index = CORE_ROOMS.index(room)
    for other in CORE_ROOMS:
        code = f"from bare_tui.core.{other} import x\n\nprint(x)\n"
        result = subprocess.run([str(RUFF), "check", "--stdin-filename",
                                 f"bare_tui/core/{room}/x.py", "-"],
                                input=code, capture_output=True, text=True, cwd=ROOT)
        against = CORE_ROOMS.index(other) > index
        assert ("TID251" in result.stdout) == against, (room, other, result.stdout)
    ui = subprocess.run([str(RUFF), "check", "--stdin-filename", f"bare_tui/core/{room}/x.py",
                         "-"], input="import textual\n\nprint(textual)\n",
                        capture_output=True, text=True, cwd=ROOT)
    assert "TID251" in ui.stdout  # core's own rule holds in every room


def test_the_core_passes_its_import_rule():
    result = subprocess.run([str(RUFF), "check", "bare_tui"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout


PROBE = """
import sys
from bare_tui.cli import main
status = 0
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
heavy = sorted({name.split('.')[0] for name in sys.modules} & {"textual", "torch",
               "llama_cpp", "sentence_transformers", "sklearn"})
print("HEAVY:", ",".join(heavy))
sys.exit(status)
"""


@pytest.mark.parametrize("args", [("--help",), ("status",),
                                  ("export", "out.jsonl", "--status", "any", "--no-embed")])
def test_light_commands_do_not_load_heavy_libraries(tmp_path: Path, args):
    """Export writes real items (the workspace has candidates) and succeeds."""
    db = make_review_workspace(tmp_path / "w.db")
    result = subprocess.run([sys.executable, "-c", PROBE, *args, "--db", str(db)]
                            if args != ("--help",) else [sys.executable, "-c", PROBE, *args],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HEAVY: \n" in result.stdout, result.stdout + result.stderr
    if args[0] == "export":
        assert "wrote 4 items to out.jsonl" in result.stdout
        assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 4


def test_the_suite_never_touches_the_developers_workspace(tmp_path: Path):
    """Run a test that imports seeds into the default workspace, with a developer's
    BARE_TUI_DB, BARE_TUI_CONFIG and ~/.config/bare-tui set: none of them is touched."""
    outer_db = tmp_path / "developer" / "real.db"
    outer_db.parent.mkdir()
    config = tmp_path / "developer" / "config.toml"
    config.write_text(f'[workspace]\ndb = "{outer_db}"\n')
    home = tmp_path / "home"
    (home / ".config" / "bare-tui").mkdir(parents=True)
    (home / ".config" / "bare-tui" / "config.toml").write_text(config.read_text())
    env = {**os.environ, "BARE_TUI_DB": str(outer_db), "BARE_TUI_CONFIG": str(config),
           "HOME": str(home), "ISOLATION_PROBE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{Path(__file__)}::test_inner_default_workspace_is_the_tests_own"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert not outer_db.exists() and list(outer_db.parent.iterdir()) == [config]


@pytest.mark.skipif(not os.environ.get("ISOLATION_PROBE"), reason="run by the test above")
def test_inner_default_workspace_is_the_tests_own(tmp_path_factory: pytest.TempPathFactory):
    assert not any(name.startswith("BARE_TUI_") for name in os.environ)
    ours = tmp_path_factory.getbasetemp()
    assert Path.home().is_relative_to(ours) and Path.cwd().is_relative_to(ours)
    result = run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k")
    assert result.returncode == 0, result.stderr
    assert (Path.cwd() / "data" / "bare.db").is_file()
