"""The library does not lean on its sample: no module imports abnb.datasets but the sample commands."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "abnb"
SAMPLE_COMMANDS = {"cli.py", "scaffold.py"}  # `abnb data generate`, `abnb demo`, `abnb init`


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks, which never run, are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_library_module_imports_the_sample() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("datasets", "notebooks", "templates") or relative.as_posix() in SAMPLE_COMMANDS:
            continue
        sample = sorted(n for n in _imports(path) if n == "abnb.datasets" or n.startswith("abnb.datasets."))
        if sample:
            offenders.append(f"{relative}: {', '.join(sample)}")
    assert offenders == []


def test_the_sample_package_is_found() -> None:
    assert (PACKAGE / "datasets" / "sample.py").is_file()
    assert any("abnb.datasets" in name for name in _imports(PACKAGE / "cli.py"))
