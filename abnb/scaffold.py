"""``abnb init``: a new project folder a team can point at its own telemetry.

The files come from package data (``abnb/templates/project/``), so an installed wheel scaffolds the same project
as the repository: ``abnb.toml`` (engine, sources, folders, defaults, commented), ``experiments/`` with one
commented example spec (the sample's ``checkout_redesign``, which ``abnb demo`` can render at once),
``metrics/example.toml`` (a metric library), ``notebooks/explore.ipynb``, empty ``reports/`` and ``data/``, and a
``.gitignore`` that keeps databases and reports out of version control. Existing files are never overwritten.
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

from abnb.errors import ProjectError
from abnb.project import PROJECT_FILE

__all__ = ["init_project"]


def init_project(directory: str | os.PathLike[str], *, name: str | None = None) -> list[Path]:
    """Create a project in ``directory`` (created if missing) and return the files written.

    Args:
        directory: The project folder; it may exist, but must not hold an ``abnb.toml`` yet.
        name: The project's name (default: the folder's name).

    Raises:
        ProjectError: The folder is already a project, or a file cannot be written.
    """
    from abnb.datasets import spec_path

    root = Path(directory).expanduser().resolve()
    if (root / PROJECT_FILE).exists():
        raise ProjectError(f"{root} is already an abnb project ({root / PROJECT_FILE} exists); nothing was changed.")
    template = files("abnb") / "templates" / "project"
    project_name = name or root.name
    if not project_name.strip() or any(c in project_name for c in '"\\\n'):
        raise ProjectError(f"project name {project_name!r} must be non-empty, without quotes, backslashes or newlines.")
    planned: list[tuple[Path, str]] = [
        (
            root / PROJECT_FILE,
            template.joinpath("abnb.toml.in").read_text(encoding="utf-8").replace("{name}", project_name),
        ),
        (root / ".gitignore", template.joinpath("gitignore").read_text(encoding="utf-8")),
        (root / "experiments" / "checkout_redesign.toml", spec_path("checkout_redesign").read_text(encoding="utf-8")),
        (root / "metrics" / "example.toml", template.joinpath("metrics", "example.toml").read_text(encoding="utf-8")),
        (
            root / "notebooks" / "explore.ipynb",
            _without_pairing(template.joinpath("notebooks", "explore.ipynb").read_text("utf-8")),
        ),
    ]
    written = []
    try:
        for folder in ("experiments", "metrics", "notebooks", "reports", "data"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for path, text in planned:
            if path.exists():
                continue
            _write_new(path, text)
            written.append(path)
    except OSError as error:
        raise ProjectError(
            f"could not create the project in {root}: {error.strerror or error} ({error.filename})."
        ) from error
    return written


def _without_pairing(text: str) -> str:
    """A notebook without the repository's jupytext pairing (a team's copy is theirs to pair or not)."""
    notebook = json.loads(text)
    notebook.get("metadata", {}).pop("jupytext", None)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def _write_new(path: Path, text: str) -> None:
    """Write a new file (``O_EXCL``: an existing file, or a link planted in its place, is never written through)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
