"""abnb's sample: deterministic synthetic telemetry with planted truth, its schemas and its example specs.

The sample is an example, never an assumption: library modules do not import this package (a test checks it);
the sample commands (``abnb data generate``, ``abnb demo``, ``abnb init``) and the tests do.

* :mod:`abnb.datasets.sample`: :func:`~abnb.datasets.sample.generate` writes the whole sample database (experiment
  telemetry, model telemetry, concurrent experiments) and :data:`~abnb.datasets.sample.GROUND_TRUTH`.
* :mod:`abnb.datasets.models`: the model-quality tables and :data:`~abnb.datasets.models.MODEL_TRUTH`.
* :mod:`abnb.datasets.concurrent`: two more experiments sharing the users (a harmful guardrail, an SRM).
* :mod:`abnb.datasets.schemas`: the sample tables' columns and DuckDB types.
* Package data: ``experiments/*.toml`` (the sample experiment specs) and ``flags/*.toml`` (a sample flag file).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abnb.experiment import Experiment

__all__ = ["SAMPLE_EXPERIMENTS", "SAMPLE_TABLE", "experiment", "flag_file", "spec_path"]

SAMPLE_EXPERIMENTS = ("checkout_redesign", "infinite_scroll", "onboarding_email")
"""The sample's experiment specs, in ``abnb/datasets/experiments/``."""

SAMPLE_TABLE = "abnb_sample"
"""A one-row table that marks a database written by :func:`abnb.datasets.sample.generate` (users, seed)."""


def spec_path(name: str) -> Path:
    """The packaged TOML spec of a sample experiment."""
    from abnb.errors import SpecError

    if name not in SAMPLE_EXPERIMENTS:
        raise SpecError(f"no sample experiment {name!r}; the sample has {', '.join(SAMPLE_EXPERIMENTS)}.")
    return Path(str(files("abnb.datasets") / "experiments" / f"{name}.toml"))


def experiment(name: str = "checkout_redesign") -> Experiment:
    """A sample experiment spec, read from the package (whatever the current project)."""
    from abnb._toml import read_toml
    from abnb.experiment import Experiment

    path = spec_path(name)
    return Experiment.from_dict(read_toml(path, "experiment spec"), source=str(path))


def flag_file(name: str = "one_click_checkout") -> Path:
    """The packaged sample flag file."""
    return Path(str(files("abnb.datasets") / "flags" / f"{name}.toml"))
