"""Files as tables: the sources a connection exposes as views (Parquet, CSV or JSON, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

from abnb.engine.names import validate_identifier
from abnb.errors import DatabaseNotFoundError, ParameterError

SourceSpec = str | os.PathLike[str] | tuple[str, str]
"""A source: a file path or glob (format from the suffix), or ``(path, format)`` with format parquet/csv/json."""

_SOURCE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".json": "json"}
_SOURCE_FORMATS.update({".ndjson": "json", ".jsonl": "json", ".txt": "csv"})
SOURCE_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json_auto"}


def source_files(name: str, spec: SourceSpec) -> tuple[str, str]:
    """``(path or glob, format)`` of a source, with its files checked to exist.

    Raises:
        ParameterError: The format cannot be told from the name (and was not given).
        DatabaseNotFoundError: No file matches the path.
    """
    import glob

    validate_identifier(name, "source name")
    given, given_format = (str(spec[0]), spec[1]) if isinstance(spec, tuple) else (os.fspath(spec), None)
    path, fmt = source_pattern(Path(given).expanduser(), given_format)
    if fmt not in SOURCE_READERS:
        raise ParameterError(
            f"source {name!r} ({path}): cannot tell its format; give (path, 'parquet' | 'csv' | 'json'), or "
            "`format` in abnb.toml [sources]."
        )
    if not glob.glob(path, recursive=True):
        raise DatabaseNotFoundError(
            f"source {name!r}: no file matches {path}; check the path (relative paths are relative to the project "
            "folder in abnb.toml, to the current directory in abnb.connect)."
        )
    return path, str(fmt)


def source_pattern(path: Path, fmt: object) -> tuple[str, object]:
    """The path or glob a source reads, and its format: ``fmt`` if given, else the one its file name says.

    A folder means every Parquet file under it (``folder/**/*.parquet``). The name's suffix tells the format
    (``.parquet``, ``.csv``, ``.tsv``, ``.jsonl`` ..., compressed ``.gz`` or ``.zst`` too); ``None`` if it does not.
    """
    if path.is_dir():
        return str(path / "**" / "*.parquet"), fmt or "parquet"
    if fmt is None:
        fmt = _SOURCE_FORMATS.get(Path(path.name.lower().removesuffix(".gz").removesuffix(".zst")).suffix)
    return str(path), fmt


def parquet_sources(directory: str | os.PathLike[str]) -> dict[str, str]:
    """The Parquet files (or Parquet folders, as Spark writes them) of ``directory`` by view name (their stem).

    Raises:
        DatabaseNotFoundError: ``directory`` does not exist or holds no Parquet file.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DatabaseNotFoundError(
            f"Parquet directory {root} does not exist; export one with `abnb data export --parquet {root}`."
        )
    found: dict[str, str] = {}
    for path in sorted(root.iterdir()):
        if path.is_dir() and any(path.glob("*.parquet")):
            target = str((path / "*.parquet").resolve())
        elif path.suffix == ".parquet":
            target = str(path.resolve())
        else:
            continue
        found[validate_identifier(path.stem, f"Parquet file name {path.name!r} (the view name)")] = target
    if not found:
        raise DatabaseNotFoundError(f"no Parquet file in {root}; export one with `abnb data export --parquet {root}`.")
    return found
