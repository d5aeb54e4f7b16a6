"""Projects: the folder a team keeps its experiments, metrics, notebooks, data and reports in.

A project is a folder with an ``abnb.toml`` at its root::

    schema_version = 1
    timezone = "Europe/Berlin"          # cutoffs, days and windows are in this zone (default UTC)

    [project]
    name = "shop"

    [engine]
    database = "data/shop.duckdb"       # a DuckDB file, or: url = "local[2]" (Spark)

    [sources]                           # files exposed as views, never copied
    orders = "data/orders/*.parquet"
    users = { path = "exports/users.csv", format = "csv" }

    [paths]                             # every folder is relative to the project root
    experiments = "experiments"
    metrics = "metrics"
    monitors = "monitors"
    notebooks = "notebooks"
    reports = "reports"
    data = "data"

    [defaults]                          # values every spec of the project starts from
    alpha = 0.05
    exposures = { table = "assignments", unit = "user_id", arm = "variant", ts = "assigned_at" }

Every command finds its project from the current directory upward (``--project DIR`` or ``$ABNB_PROJECT``
choose another); a folder without a project file is an *implicit* project with the defaults above, so ``abnb``
still works in a bare folder. The kit's own checkout is a project like any other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb._toml import read_toml
from abnb.errors import ProjectError, SpecError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from abnb.engine import BaseConnection
    from abnb.telemetry import ModelTelemetry

__all__ = [
    "PROJECT_ENV",
    "PROJECT_FILE",
    "SCHEMA_VERSION",
    "Project",
    "Source",
    "current_project",
    "find_project",
]

PROJECT_FILE = "abnb.toml"
PROJECT_ENV = "ABNB_PROJECT"
DATABASE_ENV = "ABNB_DATABASE"
SCHEMA_VERSION = 1
"""Version of the project file, ``summary.json`` and the incremental store that this abnb reads and writes."""

DEFAULT_DATABASE = Path("data") / "telemetry.duckdb"
PATH_KEYS = ("experiments", "metrics", "monitors", "notebooks", "reports", "data")
TOP_KEYS = ("schema_version", "timezone", "project", "engine", "sources", "paths", "defaults", "metrics", "model")
DEFAULT_KEYS = (
    "arms",
    "control",
    "weights",
    "alpha",
    "exposures",
    "segments",
    "srm_threshold",
    "correction",
    "tuning",
    "decision_rule",
    "chance_to_win",
    "max_expected_loss",
)
"""Experiment keys a project's ``[defaults]`` may set (specs override them; ``exposures`` merges key by key)."""


def check_schema_version(value: object, what: str) -> int:
    """Refuse a file written by a newer abnb (or a malformed version), with the upgrade step.

    Args:
        value: The ``schema_version`` read from the file (``None``: the file predates versions, read as 1).
        what: The file, for the message.

    Raises:
        ProjectError: The version is not a positive whole number, or newer than :data:`SCHEMA_VERSION`.
    """
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProjectError(f"{what}: schema_version must be a positive whole number, got {value!r}.")
    if value > SCHEMA_VERSION:
        from abnb import __version__

        raise ProjectError(
            f"{what} has schema_version {value}, written by a newer abnb; this abnb {__version__} reads versions up "
            f"to {SCHEMA_VERSION}. Upgrade abnb (pip install --upgrade abnb) to read it."
        )
    return value


@dataclass(frozen=True)
class Source:
    """A file (or a glob of files) of the project exposed to the engine as a view named ``name``.

    Attributes:
        name: The view's name (a plain identifier): what metric SQL and specs call the table.
        path: Absolute path or glob (``data/orders/*.parquet``); a folder means every Parquet file under it.
        format: ``parquet``, ``csv`` or ``json`` (from the suffix unless given).
    """

    name: str
    path: str
    format: str

    @classmethod
    def parse(cls, name: str, value: object, root: Path, where: str) -> Source:
        """Read one ``[sources]`` entry: ``name = "path"`` or ``name = { path = "...", format = "csv" }``."""
        from abnb.engine import SOURCE_READERS, source_pattern, validate_identifier

        try:
            validate_identifier(name, f"{where}: source name")
        except SpecError as error:
            raise ProjectError(str(error)) from error
        fmt: object = None
        if isinstance(value, Mapping):
            entry: Mapping[str, Any] = value
            unknown = sorted(set(entry) - {"path", "format"})
            if unknown or "path" not in entry:
                raise ProjectError(
                    f"{where}: source {name!r} takes `path` and optionally `format` ({', '.join(SOURCE_READERS)}), "
                    f"got {', '.join(sorted(entry)) or 'nothing'}."
                )
            value, fmt = entry["path"], entry.get("format")
        if not isinstance(value, str) or not value.strip():
            raise ProjectError(f"{where}: source {name!r} must be a file path or glob (a string), got {value!r}.")
        path = Path(value).expanduser()
        text, fmt = source_pattern(path if path.is_absolute() else root / path, fmt)
        if fmt not in SOURCE_READERS:
            raise ProjectError(
                f"{where}: source {name!r} ({value}): cannot tell the format from the file name; add "
                f'`format = "parquet"`, "csv" or "json" ({name} = {{ path = "{value}", format = "csv" }}).'
            )
        return cls(name, text, str(fmt))


@dataclass(frozen=True)
class Project:
    """A project: where its telemetry lives and where its specs, notebooks and reports go.

    Attributes:
        root: The project folder (absolute).
        name: The project's name (``[project] name``; default: the folder's name).
        file: The project file, or ``None`` for an implicit project (a folder without ``abnb.toml``).
        database: The DuckDB file of ``[engine] database`` (absolute; ``$ABNB_DATABASE`` overrides it), or
            ``None`` when the engine is ``url`` or the project reads its sources only (an in-memory DuckDB).
        url: ``[engine] url``: a Spark engine (``"spark"``, ``"local[2]"``, ``"spark://host:7077"``, ``"sc://..."``).
        sources: Files exposed as views on every connection the project opens.
        paths: The project's folders by key (experiments, metrics, notebooks, reports, data), absolute.
        timezone: IANA zone of cutoffs, days and windows (default ``UTC``), whatever the process' own zone.
        defaults: ``[defaults]``: values every experiment spec of the project starts from.
        metrics: ``[[metrics]]`` of the project file (the metric library also reads ``metrics/*.toml``).
        model: ``[model]``: the names of the model-telemetry tables and columns
            (:class:`abnb.telemetry.ModelTelemetry`).
    """

    root: Path
    name: str
    file: Path | None = None
    database: Path | None = None
    url: str | None = None
    sources: tuple[Source, ...] = ()
    paths: Mapping[str, Path] = field(default_factory=dict)
    timezone: str = "UTC"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[Mapping[str, Any], ...] = ()
    model: Mapping[str, Any] = field(default_factory=dict)

    # --- reading -------------------------------------------------------------------------------------------

    @classmethod
    def implicit(cls, root: str | os.PathLike[str]) -> Project:
        """The project of a folder without ``abnb.toml``: the default folders and ``data/telemetry.duckdb``."""
        folder = Path(root).resolve()
        return cls._build(folder, None, {})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        """Read a project from its ``abnb.toml`` (or from the folder that holds one).

        Raises:
            ProjectError: The file is missing, not valid TOML, has unknown keys or invalid values, or was written
                by a newer abnb.
        """
        file = Path(path).resolve()
        if file.is_dir():
            file = file / PROJECT_FILE
        if not file.is_file():
            raise ProjectError(
                f"project file {file} does not exist: create the project with `abnb init {file.parent}`, or run "
                "from a folder inside a project."
            )
        try:
            data = read_toml(file, "project file")
        except SpecError as error:
            raise ProjectError(str(error)) from error
        return cls._build(file.parent, file, data)

    @classmethod
    def _build(cls, root: Path, file: Path | None, data: Mapping[str, Any]) -> Project:
        where = str(file) if file else f"{root} (no {PROJECT_FILE}: defaults)"
        unknown = sorted(set(data) - set(TOP_KEYS))
        if unknown:
            raise ProjectError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(TOP_KEYS)}.")
        check_schema_version(data.get("schema_version"), where)
        project = _table(data, "project", ("name",), where)
        engine = _table(data, "engine", ("database", "url"), where)
        paths_data = _table(data, "paths", PATH_KEYS, where)
        name = project.get("name", root.name)
        if not isinstance(name, str) or not name.strip():
            raise ProjectError(f"{where}: [project] name must be a non-empty string, got {name!r}.")
        timezone = data.get("timezone", "UTC")
        _zone(timezone, f"{where}: timezone")
        paths = {key: _path(paths_data.get(key, key), root, f"{where}: [paths] {key}") for key in PATH_KEYS}
        database, url = engine.get("database"), engine.get("url")
        if database is not None and url is not None:
            raise ProjectError(f"{where}: [engine] takes `database` (a DuckDB file) or `url` (Spark), not both.")
        if url is not None:
            from abnb.engine import is_spark_spec
            from abnb.engine.postgres import has_password, is_postgres_url, redact

            if not isinstance(url, str) or not (is_spark_spec(url) or is_postgres_url(url)):
                raise ProjectError(
                    f"{where}: [engine] url {url!r} is not an engine abnb knows: give a Spark spec ('spark', "
                    "'local[2]', 'spark://host:7077', 'sc://host:15002'), a PostgreSQL URL "
                    "('postgresql://user@host:5432/db'), or `database` for a DuckDB file."
                )
            if has_password(url):
                raise ProjectError(
                    f"{where}: [engine] url {redact(url)!r} holds a password; remove it and set PGPASSWORD or a "
                    "~/.pgpass line (a project file is shared, and its url reaches reports)."
                )
        db_path: Path | None = None
        if database is not None:
            db_path = _path(database, root, f"{where}: [engine] database")
        elif file is None:
            db_path = root / DEFAULT_DATABASE
        env = os.environ.get(DATABASE_ENV)
        if env and url is None:
            db_path = Path(env).expanduser().resolve()
        sources = _table(data, "sources", None, where)
        defaults = _table(data, "defaults", DEFAULT_KEYS, where)
        model = _table(data, "model", None, where)
        metrics = data.get("metrics", [])
        if not isinstance(metrics, list) or not all(isinstance(m, Mapping) for m in metrics):
            raise ProjectError(f"{where}: `metrics` must be an array of tables ([[metrics]]).")
        return cls(
            root=root,
            name=name.strip(),
            file=file,
            database=db_path,
            url=url,
            sources=tuple(Source.parse(k, v, root, f"{where}: [sources]") for k, v in sources.items()),
            paths=paths,
            timezone=timezone,
            defaults=dict(defaults),
            metrics=tuple(dict(m) for m in metrics),
            model=dict(model),
        )

    def __repr__(self) -> str:
        engine = self.url or (str(self.database) if self.database else "in-memory DuckDB")
        origin = str(self.file) if self.file else f"{self.root} (implicit)"
        return f"abnb.Project({self.name!r}, {origin}, engine {engine}, {len(self.sources)} source(s))"

    # --- folders and files ---------------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        """The project's time zone as a ``ZoneInfo``."""
        return _zone(self.timezone, "timezone")

    @property
    def experiments_dir(self) -> Path:
        """Where the experiment specs live (``[paths] experiments``)."""
        return self.paths["experiments"]

    @property
    def reports_dir(self) -> Path:
        """Where reports are published (``[paths] reports``)."""
        return self.paths["reports"]

    def path(self, key: str) -> Path:
        """One of the project's folders: ``experiments``, ``metrics``, ``notebooks``, ``reports`` or ``data``."""
        if key not in PATH_KEYS:
            from abnb.errors import ParameterError

            raise ParameterError(f"unknown project folder {key!r}; choose one of {', '.join(PATH_KEYS)}.")
        return self.paths[key]

    def experiment_files(self) -> list[Path]:
        """The experiment spec files of the project (``experiments/*.toml``), sorted by name."""
        return sorted(p for p in self.experiments_dir.glob("*.toml") if not p.name.startswith("."))

    def notebook(self, kind: str) -> Path:
        """The notebook that renders a report kind: the project's own ``notebooks/<kind>.ipynb``, else abnb's.

        Args:
            kind: ``experiment_report``, ``monitoring`` or ``canary_release``.

        Raises:
            ProjectError: abnb has no notebook of that kind.
        """
        own = self.paths["notebooks"] / f"{kind}.ipynb"
        if own.is_file():
            return own
        return packaged_notebook(kind)

    def model_telemetry(self) -> ModelTelemetry:
        """The names of the project's model-telemetry tables and columns (``[model]``; default: the sample's)."""
        from abnb.telemetry import ModelTelemetry

        return ModelTelemetry.from_dict(self.model, source=f"{self.file or PROJECT_FILE} [model]")

    # --- the metric library and specs ----------------------------------------------------------------------

    def metric_library(self) -> dict[str, dict[str, Any]]:
        """The project's named metrics: ``[[metrics]]`` of ``abnb.toml`` and of every ``metrics/*.toml``.

        Raises:
            ProjectError: A metric has no name, or two places define the same name.
        """
        library: dict[str, dict[str, Any]] = {}
        origin: dict[str, str] = {}
        files: list[tuple[str, list[Any]]] = [(str(self.file or PROJECT_FILE), list(self.metrics))]
        folder = self.paths["metrics"]
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            try:
                data = read_toml(path, "metric library file")
            except SpecError as error:
                raise ProjectError(str(error)) from error
            unknown = sorted(set(data) - {"metrics"})
            entries = data.get("metrics", [])
            if unknown or not isinstance(entries, list) or not all(isinstance(m, Mapping) for m in entries):
                raise ProjectError(
                    f"metric library file {path}: write each metric as a [[metrics]] table with a `name` "
                    f"(found {', '.join(unknown) or type(entries).__name__})."
                )
            files.append((str(path), entries))
        for where, entries in files:
            for entry in entries:
                name = entry.get("name")
                if not isinstance(name, str) or not name:
                    raise ProjectError(f"{where}: every [[metrics]] entry of the metric library needs a `name`.")
                if "ref" in entry:
                    raise ProjectError(f"{where}: library metric {name!r} cannot itself be a `ref`; give its SQL.")
                if name in library:
                    raise ProjectError(
                        f"metric {name!r} is defined twice in the project's metric library: in {origin[name]} and in "
                        f"{where}; keep one."
                    )
                library[name], origin[name] = dict(entry), where
        return library

    def spec_data(self, data: Mapping[str, Any], source: str) -> dict[str, Any]:
        """An experiment spec's table with the project's ``[defaults]`` applied and metric references resolved.

        A metric entry ``{ ref = "conversion", role = "guardrail" }`` takes the library metric ``conversion`` and
        overrides its ``role`` (any key but ``name`` and the SQL may be overridden).

        Raises:
            SpecError: A ``ref`` names no library metric, or overrides its SQL.
        """
        merged: dict[str, Any] = {**{k: v for k, v in self.defaults.items() if k != "exposures"}, **data}
        base_exposures = self.defaults.get("exposures")
        if isinstance(base_exposures, Mapping):
            own = data.get("exposures", {})
            own = {"table": own} if isinstance(own, str) else own
            if isinstance(own, Mapping):
                merged["exposures"] = {**base_exposures, **own}
        metrics = data.get("metrics")
        if isinstance(metrics, list) and any(isinstance(m, Mapping) and "ref" in m for m in metrics):
            library = self.metric_library()
            merged["metrics"] = [_resolve_ref(m, library, source) if isinstance(m, Mapping) else m for m in metrics]
        return merged

    def experiment_path(self, name_or_path: str | os.PathLike[str]) -> Path:
        """The spec file of an experiment of the project: ``experiments/<name>.toml``, or the path of a TOML file.

        Load it with :func:`abnb.load` (``abnb.load(name, project=project)``), which applies this project's
        ``[defaults]`` and metric library.

        Raises:
            SpecError: No such experiment (the message lists the project's experiments).
        """
        from abnb.engine import validate_identifier

        path = Path(name_or_path)
        if path.suffix != ".toml":
            name = validate_identifier(str(name_or_path), "experiment name")
            path = self.experiments_dir / f"{name}.toml"
            if not path.exists():
                known = ", ".join(p.stem for p in self.experiment_files()) or "none"
                raise SpecError(
                    f"no experiment {name!r} in project {self.name!r}: {path} does not exist; known experiments: "
                    f"{known}. Give a spec's name or the path of a .toml file."
                )
        return path

    # --- the engine ----------------------------------------------------------------------------------------

    def engine_label(self, database: str | os.PathLike[str] | None = None, engine: str | None = None) -> str:
        """Where this project's data are read from, for messages and report headers."""
        from abnb.engine.postgres import is_postgres_url

        chosen = engine if engine and engine != "duckdb" else (None if database is not None else self.url)
        if chosen:
            return f"PostgreSQL {_server_label(chosen)}" if is_postgres_url(chosen) else f"Spark {chosen}"
        if database is not None:
            return str(Path(database))
        if self.database is not None:
            return str(self.database)
        return "in-memory DuckDB over the project's sources"

    def connect(
        self,
        database: str | os.PathLike[str] | None = None,
        *,
        engine: str | None = None,
        parquet: str | os.PathLike[str] | None = None,
        frames: Mapping[str, Any] | None = None,
        read_only: bool = True,
        lock_timeout: float | None = None,
        external_access: bool = False,
    ) -> BaseConnection:
        """Open the project's engine with its sources as views, in the project's time zone.

        Args:
            database: A DuckDB file instead of ``[engine] database``.
            engine: ``"duckdb"`` or a Spark spec instead of ``[engine]``.
            parquet: A folder whose Parquet files become views named after them (both engines).
            frames: pandas or Arrow frames to register as views, by name.
            read_only: Open a DuckDB file read-only (the default; a Lab kernel and a report share the file).
            lock_timeout: Seconds to retry a DuckDB file locked by a writer (:func:`abnb.engine.connect`).
            external_access: DuckDB: ``False`` confines SQL to the database, the sources, ``parquet`` and
                ``frames`` (:func:`abnb.engine.connect`, docs/security.md). Spark: the account's permissions apply.

        Raises:
            DatabaseNotFoundError: The DuckDB file or a source's files do not exist.
            EngineError: The engine cannot be opened.
        """
        from abnb.engine import connect, connect_spark, is_spark_spec, parquet_sources
        from abnb.engine.postgres import connect_postgres, is_postgres_url

        sources = {s.name: (s.path, s.format) for s in self.sources}
        if parquet is not None:
            sources.update({name: (path, "parquet") for name, path in parquet_sources(parquet).items()})
        spark = engine if engine not in (None, "duckdb") else (self.url if engine is None else None)
        if spark is not None and is_postgres_url(spark):
            if sources or frames:
                from abnb.errors import ParameterError

                raise ParameterError(
                    "the project's sources, --parquet and frames are read by DuckDB or Spark; on PostgreSQL, read "
                    "the server's tables (or create views there)."
                )
            return connect_postgres(spark, timezone=self.timezone)
        if spark is not None:
            if not is_spark_spec(spark):
                from abnb.errors import ParameterError

                raise ParameterError(
                    f"engine {spark!r} is not 'duckdb', a Spark spec ('spark', 'local[2]', 'spark://host:7077') or a "
                    "PostgreSQL URL ('postgresql://user@host:5432/db')."
                )
            if frames:
                from abnb.errors import ParameterError

                raise ParameterError("frames are registered on DuckDB; with Spark, create temporary views instead.")
            return connect_spark(spark, sources=sources, timezone=self.timezone)
        # Without a database file, or with only files given (Parquet, frames) and the project's file absent, the
        # data are those files, in an in-memory DuckDB.
        own = (
            self.database if self.database is not None and (self.database.exists() or not (parquet or frames)) else None
        )
        target: str | os.PathLike[str] = database if database is not None else (own or ":memory:")
        return connect(
            target,
            read_only=read_only,
            lock_timeout=lock_timeout,
            sources=sources,
            frames=frames,
            timezone=self.timezone,
            external_access=external_access,
        )


def packaged_notebook(kind: str) -> Path:
    """Abnb's own notebook of a report kind (package data)."""
    from importlib.resources import files

    known = ("experiment_report", "monitoring", "canary_release")
    if kind not in known:
        raise ProjectError(f"abnb has no report notebook {kind!r}; report kinds: {', '.join(known)}.")
    return Path(str(files("abnb") / "notebooks" / f"{kind}.ipynb"))


def _resolve_ref(entry: Mapping[str, Any], library: Mapping[str, Mapping[str, Any]], source: str) -> dict[str, Any]:
    if "ref" not in entry:
        return dict(entry)
    ref = entry["ref"]
    if not isinstance(ref, str) or ref not in library:
        known = ", ".join(sorted(library)) or "none (add metrics/*.toml or [[metrics]] to abnb.toml)"
        raise SpecError(
            f"{source}: metric ref {ref!r} is not in the project's metric library; library metrics: {known}."
        )
    fixed = {"name", "sql", "column", "denominator_sql", "denominator_column"} & set(entry)
    if fixed:
        raise SpecError(
            f"{source}: metric ref {ref!r} overrides {', '.join(sorted(fixed))}; a reference keeps the library's "
            "definition (name and SQL). Define a new metric instead."
        )
    return {**library[ref], **{k: v for k, v in entry.items() if k != "ref"}}


def _table(data: Mapping[str, Any], key: str, allowed: tuple[str, ...] | None, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ProjectError(f"{where}: [{key}] must be a table, got {value!r}.")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ProjectError(
                f"{where}: [{key}] has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}."
            )
    return dict(value)


def _path(value: object, root: Path, what: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ProjectError(f"{what} must be a path (a string), got {value!r}.")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else root / path).resolve()


_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


def _zone(name: object, what: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if isinstance(name, str) and _ZONE_NAME.match(name):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ProjectError(
        f"{what} {name!r} is not an IANA time zone name such as 'UTC', 'Europe/Berlin' or 'America/New_York'."
    )


def find_project(start: str | os.PathLike[str] | None = None) -> Project:
    """The project of ``start`` (default: ``$ABNB_PROJECT``, else the current directory).

    Walks from ``start`` upward to the first folder holding ``abnb.toml``; without one, the implicit project of
    ``start`` itself (default folders, ``data/telemetry.duckdb``).

    Raises:
        ProjectError: ``$ABNB_PROJECT`` or ``start`` names a folder that does not exist, or the project file is
            invalid.
    """
    if start is None:
        env = os.environ.get(PROJECT_ENV)
        if env:
            folder = Path(env).expanduser().resolve()
            if not folder.exists():
                raise ProjectError(f"${PROJECT_ENV} = {env!r}: no such folder; point it at a project folder.")
            return (
                Project.load(folder)
                if (folder / PROJECT_FILE).is_file() or folder.is_file()
                else Project.implicit(folder)
            )
        start = Path.cwd()
    folder = Path(start).expanduser().resolve()
    if folder.is_file():
        if folder.name == PROJECT_FILE:
            return Project.load(folder)
        folder = folder.parent
    if not folder.exists():
        raise ProjectError(f"project folder {folder} does not exist.")
    for candidate in (folder, *folder.parents):
        if (candidate / PROJECT_FILE).is_file():
            return Project.load(candidate / PROJECT_FILE)
    return Project.implicit(folder)


def current_project() -> Project:
    """The project commands and ``abnb.connect()`` use: ``$ABNB_PROJECT``, else the current directory's."""
    return find_project()


def _server_label(url: str) -> str:
    """A PostgreSQL URL as the adapter names its server (no user, password or options)."""
    from abnb.engine.postgres import server_name

    return server_name(url)
