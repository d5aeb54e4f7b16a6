"""Teaching-app latency: median seconds per update (compute + render + SVG) for each app, warm-up excluded.

Run: ``.venv/bin/python benchmarks/bench_widgets.py [--updates N]``. Each update changes one control the way a user
moving a slider would. Nothing is asserted; the target is < 100 ms for typical settings.
"""

from __future__ import annotations

import argparse
import statistics

import abnb.widgets
from abnb.widgets import APPS, App


def _nudge(app: App, step: int) -> None:
    """Move the first numeric control one notch, alternating direction, like a user on a slider."""
    for name, control in app.controls.items():
        value = control.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        delta = getattr(control, "step", 1) or 1
        low, high = getattr(control, "min", value - delta), getattr(control, "max", value + delta)
        target = value + delta if step % 2 == 0 else value - delta
        app.set(**{name: min(max(target, low), high)})
        return
    app.update()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=15)
    args = parser.parse_args()
    print(f"{'app':<20} {'median ms':>10} {'max ms':>8}")
    for name in APPS:
        app = getattr(abnb.widgets, name)()
        times = []
        for step in range(args.updates):
            _nudge(app, step)
            times.append(app.seconds)
        print(f"{name:<20} {statistics.median(times) * 1000:>10.1f} {max(times) * 1000:>8.1f}")


if __name__ == "__main__":
    main()
