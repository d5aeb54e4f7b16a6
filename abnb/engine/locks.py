"""Waiting for a DuckDB file another process holds: the lock timeout, the backoff, and who holds the lock."""

from __future__ import annotations

import os
import re
from pathlib import Path

from abnb.errors import ParameterError

LOCK_TIMEOUT_ENV = "ABNB_LOCK_TIMEOUT"
_BACKOFF_FIRST = 0.1  # seconds before the second attempt; doubled each time
_BACKOFF_MAX = 2.0  # longest single wait between attempts
LOCK_TIMEOUT_MAX = 86_400.0  # one day: longer than any scheduled run should wait for a lock


def lock_timeout(value: float | None = None) -> float:
    """Seconds to keep retrying a locked DuckDB file: ``value``, else ``$ABNB_LOCK_TIMEOUT``, else 0.

    The library default is 0 (fail at once: a notebook user sees the error immediately); ``abnb report`` and
    ``abnb run`` set ``ABNB_LOCK_TIMEOUT=30`` unless it is already set, and their report kernels inherit it.

    Raises:
        ParameterError: The value (or the variable) is not a number from 0 to :data:`LOCK_TIMEOUT_MAX` (one day).
    """
    source = "lock_timeout"
    raw: object = value
    if value is None:
        raw = os.environ.get(LOCK_TIMEOUT_ENV, "0").strip() or "0"
        source = f"${LOCK_TIMEOUT_ENV}"
    try:
        seconds = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"{source} must be a number of seconds ≥ 0, got {raw!r}.") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ParameterError(f"{source} must be a finite number of seconds ≥ 0, got {raw!r}.")
    if seconds > LOCK_TIMEOUT_MAX:
        raise ParameterError(
            f"{source} must be at most {LOCK_TIMEOUT_MAX:,.0f} seconds (one day), got {raw!r}; a run that waits "
            "longer for a lock is stuck, not patient. Give a smaller number of seconds."
        )
    return seconds


def backoff_schedule(timeout: float) -> list[float]:
    """The waits between attempts on a locked file: 0.1 s, doubling, at most 2 s each, summing to ``timeout``.

    ``timeout`` is capped at :data:`LOCK_TIMEOUT_MAX` (one day), so the schedule has at most about 43,000 entries
    whatever it is given (a huge value such as ``1e308`` no longer loops forever: ``left -= 2`` did not change it).
    """
    waits: list[float] = []
    delay, left = _BACKOFF_FIRST, min(timeout, LOCK_TIMEOUT_MAX) if timeout == timeout else 0.0
    while left > 1e-9:
        wait = min(delay, left)
        waits.append(wait)
        left -= wait
        delay = min(delay * 2, _BACKOFF_MAX)
    return waits


def process_kind(pid: int) -> str:
    """What process ``pid`` is, from ``/proc/<pid>/cmdline``: a Jupyter kernel, an abnb command, or its command.

    Returns ``"process <pid>"`` where ``/proc`` is not readable (macOS, another user's process, a process that
    has exited).
    """
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return f"process {pid}"
    if not argv:
        return f"process {pid}"
    names = [Path(a).name for a in argv]
    if any(n.startswith("ipykernel") for n in names):
        return f"a Jupyter kernel (ipykernel_launcher, pid {pid})"
    start = None
    if names[0] == "abnb":
        start = 1
    elif len(names) > 1 and names[0].startswith("python") and names[1] == "abnb":  # a console script
        start = 2
    elif "-m" in argv[:-1] and argv[argv.index("-m") + 1] in {"abnb", "abnb.cli"}:
        start = argv.index("-m") + 2
    if start is not None:
        words = [a for a in argv[start:] if not a.startswith("-")][:2]
        return f"abnb {' '.join(words)} (pid {pid})" if words else f"abnb (pid {pid})"
    command = " ".join([names[0], *(Path(a).name if a.endswith(".py") else a for a in argv[1:])])
    if len(command) > 100:
        command = command[:97] + "..."
    return f"{command} (pid {pid})"


def _lock_fix(kind: str) -> str:
    if "Jupyter kernel" in kind:
        return (
            "restart or shut down that kernel (or close its connection; notebooks should open the file with "
            "abnb.connect(), which is read-only)"
        )
    if kind.startswith("abnb data"):
        return "wait for the data generation to finish"
    if kind.startswith("abnb "):
        return "wait for that abnb command to finish"
    return "close that connection or wait for the process to finish"


def lock_message(name: str, message: str, *, read_only: bool, waited: float, attempts: int) -> str:
    """The error for a DuckDB file still locked after ``attempts`` tries: who holds it, and what to do."""
    pid = re.search(r"PID (\d+)", message)
    kind = process_kind(int(pid.group(1))) if pid else "another process"
    if read_only:
        what = f"database {name} is locked for writing by {kind}"
        why = "abnb opens the file read-only, which DuckDB allows only while no process writes it"
    else:
        what = f"database {name} is open in {kind}"
        why = "a writer needs the file to itself, so no other process may have it open, even read-only"
    tried = f" (tried {attempts} times over {waited:.1f} s)" if attempts > 1 else ""
    return (
        f"{what}{tried}: {_lock_fix(kind)}, then run again. {why[0].upper()}{why[1:]}; "
        f"set {LOCK_TIMEOUT_ENV}=<seconds> to wait longer for the lock."
    )
