"""The shared core stays pure: no I/O, no Textual, nothing a reducer must not touch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).parent.parent / "warroom" / "core"
# Modules that do I/O, draw on screen, or belong to the edges; the core may load none of them.
EDGES = {
    "textual",
    "rich",
    "websockets",
    "httpx",
    "starlette",
    "uvicorn",
    "sqlite3",
    "socket",
    "asyncio",
    "platformdirs",
    "server",
    "logging",
    "subprocess",
    "threading",
}
FORBIDDEN_MODULES = sorted(EDGES | {"warroom.client", "warroom.cli", "warroom.app"})
# What its source may not import: the edges, plus the standard library's I/O and clocks.
FORBIDDEN_IMPORTS = EDGES | {"os", "io", "pathlib", "time", "random"}


def test_importing_the_core_loads_no_io_or_ui_module() -> None:
    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    assert {"events", "reducer", "protocol", "state"} <= set(modules)
    probe = (
        "import sys\n"
        + "".join(f"import warroom.core.{m}\n" for m in modules)
        + f"bad = [m for m in {FORBIDDEN_MODULES!r} if m in sys.modules]\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"the core loaded: {result.stdout.strip()}"


def test_core_source_imports_nothing_that_does_io() -> None:
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IMPORTS, f"{path.name} imports {name}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("open", "print", "input"), f"{path.name} calls {node.func.id}"
