"""Peak resident set size (RSS) of the process during a call, and the memory the machine has."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path


def _proc_status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter (``VmHWM``) to the current RSS (Linux ≥ 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    hwm, rss = _proc_status_kb("VmHWM"), _proc_status_kb("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024  # reset worked (within 1 MB of slack)


def _current_rss() -> int:
    rss = _proc_status_kb("VmRSS")
    if rss is not None:
        return rss * 1024
    import psutil

    return int(psutil.Process().memory_info().rss)


@dataclass
class PeakRss:
    """Measure the process' RSS before a block (``baseline``) and its peak during it (``peak``), in bytes.

    ``ru_maxrss`` only grows over a process' life, so it cannot give a per-call peak. Where Linux allows it the
    kernel's high-water mark is reset before the block and read after (exact); otherwise a thread samples the RSS
    with psutil every ``interval`` seconds (a peak shorter than that can be missed).
    """

    interval: float = 0.002
    baseline: int = 0
    peak: int = 0
    method: str = ""
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = _current_rss()
        if _reset_high_water_mark():
            self.method = "kernel VmHWM"
            return self
        import psutil

        self.method = "psutil sampling"
        process = psutil.Process()
        self._stop.clear()

        def sample() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, int(process.memory_info().rss))
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        else:
            hwm = _proc_status_kb("VmHWM")
            self.peak = max(self.peak, (hwm or 0) * 1024)
        self.peak = max(self.peak, _current_rss())


def available_memory() -> int | None:
    """Bytes of memory available to start new programs (Linux ``MemAvailable``), or ``None`` where unknown."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def total_memory() -> int | None:
    """Bytes of physical memory of the machine, or ``None`` where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
