"""One render's view of the local files: a fingerprint taken at its first connection that later ones must match."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from abnb.errors import ReportError

if TYPE_CHECKING:
    from abnb.engine.base import BaseConnection

FileId = tuple[str, int, int, int, int]
"""``(path, device, inode, size, mtime_ns)``: which file a path is, and whether it was written since."""


class Snapshot:
    """The local files one render reads, fingerprinted at its first connection; later connections must match.

    A report that opens the engine more than once (one connection per section) could otherwise read a database
    that was replaced in between and publish numbers from two of them. :meth:`connect` records the fingerprint
    of the files (:meth:`fingerprint`) before and after its first open; any later open that sees another file,
    size or modification time fails with a :class:`ReportError` (nothing is published). Tables of a Spark session
    or a SQL server are not local files; only local sources count there.

    Args:
        patterns: Paths or globs (``**`` recursive) of the files the render reads: the DuckDB file and its WAL,
            the project's sources, Parquet folders.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.files: tuple[FileId, ...] | None = None

    def fingerprint(self) -> tuple[FileId, ...]:
        """The identity of every file the patterns match now (missing files are left out)."""
        import glob

        found: list[FileId] = []
        for pattern in self.patterns:
            for name in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                try:
                    status = os.stat(name)
                except OSError:
                    continue
                found.append((name, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns))
        return tuple(found)

    def check(self, *seen: tuple[FileId, ...]) -> None:
        """Record the first fingerprint; fail if any of ``seen`` differs from it.

        Raises:
            ReportError: naming the files that changed; run again once the data are written.
        """
        if self.files is None and seen:
            self.files = seen[0]
        for files in seen:
            if files != self.files:
                changed = sorted({f[0] for f in set(files) ^ set(self.files or ())})
                raise ReportError(
                    "the data changed while the report was rendering: "
                    f"{', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''} "
                    "was replaced or written since the first query, so its sections would mix two versions of the "
                    "data. Nothing was published; run the report again once the data are written (abnb data "
                    "generate and imports replace the file at the end)."
                )

    def connect(self, opener: Callable[[], BaseConnection]) -> BaseConnection:
        """``opener()``, checked against the render's first fingerprint before and after the open.

        Raises:
            ReportError: A file changed since the first connection (the new connection is closed).
        """
        before = self.fingerprint()
        connection = opener()
        try:
            self.check(before, self.fingerprint())
        except BaseException:
            connection.close()
            raise
        return connection
