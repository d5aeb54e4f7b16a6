"""The layers of docs/architecture.md: each part of abnb imports only the parts below it.

Every import a module runs counts, imports inside functions included; ``if TYPE_CHECKING:`` blocks, which never
run, do not. A part is a top-level module or package of ``abnb`` (``abnb.stats.frequentist`` is ``stats``).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "abnb"
PACKAGE_DATA = ("notebooks", "templates")  # report notebooks and scaffold files: they use the public API

# bottom to top; a part may import its own layer's parts (see SAME_LAYER) and every layer below
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("kernel", frozenset({"errors", "_io", "_display", "_toml", "_lazy", "_parameters", "_verdicts"})),
    ("statistics and languages", frozenset({"stats", "assign", "flags"})),
    ("foundation", frozenset({"engine", "project", "telemetry"})),
    (
        "domain",
        frozenset(
            {
                "metrics",
                "_query",
                "aggregate",
                "experiment",
                "incremental",
                "timeline",
                "validate",
                "audit",
                "counts",
                "monitor",
                "quality",
                "feedback",
                "rollout",
                "chaos",
                "charts",
                "widgets",
                "teach",
            }
        ),
    ),
    ("publishing", frozenset({"report"})),
    ("sample", frozenset({"datasets"})),
    ("commands", frozenset({"cli", "scaffold", "bench"})),
)
# Layers whose parts may import one another: the kernel's; the foundation's, as one unit (the engine takes its
# defaults from the project file, which names the engine; telemetry schemas query through the engine); the
# domain's, without a cycle (checked below); the commands'. In statistics and languages only flags → assign.
SAME_LAYER = {"kernel", "foundation", "domain", "commands"}
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}
LAYER = {part: name for name, parts in LAYERS for part in parts}


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


def _part(module: str) -> str | None:
    """The part of abnb a module name belongs to (``None``: not abnb, or the root's ``__version__``/lazy names)."""
    pieces = module.split(".")
    if pieces[0] != "abnb" or len(pieces) < 2:
        return None
    return pieces[1] if pieces[1] in RANK else None


def _edges() -> dict[str, set[str]]:
    """Part → the other parts its modules import."""
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in PACKAGE_DATA or (relative.name == "__init__.py" and len(relative.parts) == 1):
            continue
        source = relative.parts[0].removesuffix(".py")
        targets = {_part(name) for name in _imports(path)} - {None, source}
        edges.setdefault(source, set()).update(t for t in targets if t is not None)
    return edges


def test_every_part_of_abnb_has_a_layer() -> None:
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    unplaced = sorted(parts - set(RANK) - {"__init__", *PACKAGE_DATA})
    assert unplaced == [], "place these in LAYERS of tests/test_layering.py and in docs/architecture.md"


def test_no_part_imports_a_higher_layer() -> None:
    upward = []
    for source, targets in sorted(_edges().items()):
        for target in sorted(targets):
            same = LAYER[source] == LAYER[target]
            allowed = RANK[target] < RANK[source] or (same and (LAYER[source] in SAME_LAYER or target == "assign"))
            if not allowed:
                upward.append(f"{source} ({LAYER[source]}) imports {target} ({LAYER[target]})")
    assert upward == []


def test_the_domain_imports_form_no_cycle() -> None:
    domain = {part for part, layer in LAYER.items() if layer == "domain"}
    graph = {source: targets & domain for source, targets in _edges().items() if source in domain}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - the failure message
        pytest.fail(f"domain parts import one another in a cycle: {error.args[1]}")
    assert set(order) >= set(graph)


def test_no_library_module_imports_the_sample() -> None:
    """Only the sample commands (`abnb data generate`, `abnb demo`, `abnb init`, `abnb bench`) use the sample."""
    users = sorted(source for source, targets in _edges().items() if "datasets" in targets)
    assert set(users) <= {"cli", "scaffold", "bench"}


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a stats module importing the experiment layer is seen (inside a function too)."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from abnb.experiment import Experiment\n    return Experiment\n")
    assert {_part(name) for name in _imports(module)} == {"experiment"}
    assert RANK["experiment"] > RANK["stats"]
