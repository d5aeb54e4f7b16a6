"""Statistics from sufficient statistics.

Every function here is pure (no I/O, no engine): arms are :class:`Moments` (or arrays for the rank and resampling
methods), results are frozen dataclasses whose ``method`` names the formula.

| concept | names |
| --- | --- |
| sufficient statistics | ``Moments``, ``RatioMoments``, ``JointMoments`` (several variables: covariates, ratios) |
| two-sample tests | ``welch``, ``ztest``, ``fisher``, ``barnard``, ``paired`` |
| rates (score intervals) | ``wilson``, ``proportion_difference``, ``proportion_ratio`` |
| variance reduction by strata | ``poststratify`` |
| ratio metrics, variance reduction | ``ratio``, ``cuped``, ``regression_adjust`` (covariates, CUPAC), ``ratio_cuped`` |
| rank, resampling, quantiles | ``mann_whitney``, ``bootstrap``, ``quantile_ci``, ``quantile_difference`` |
| Bayesian | ``chance_to_beat`` (methods ``beta``, ``normal``, ``lift``) |
| many arms and metrics | ``adjust``, ``adjusted_interval``, ``noninferiority`` |
| power | ``sample_size``, ``mde``, ``duration`` |
| sequential | ``confidence_sequence``, ``group_sequential_bounds``, ``group_sequential_test``, ``msprt`` |
| allocation | ``srm`` |
| calibration by simulation | ``calibrate``, ``aa_test``, ``peeking`` |
| the significance level | ``check_alpha`` (the one accepted range, ``ALPHA_MIN`` < alpha <= ``ALPHA_MAX``) |
"""

from abnb.stats._alpha import ALPHA_MAX, ALPHA_MIN, check_alpha
from abnb.stats._effect import ConfidenceInterval, Effect, IntervalEstimate
from abnb.stats.bayesian import BayesResult, chance_to_beat
from abnb.stats.cuped import CupedEffect, cuped
from abnb.stats.exact import ExactTestResult, barnard, fisher, paired
from abnb.stats.frequentist import welch, ztest
from abnb.stats.joint import JointMoments
from abnb.stats.moments import Moments
from abnb.stats.multiple import NonInferiorityResult, adjust, adjusted_interval, noninferiority
from abnb.stats.nonparametric import (
    BootstrapResult,
    QuantileDifferenceResult,
    QuantileResult,
    ShiftResult,
    bootstrap,
    mann_whitney,
    quantile_ci,
    quantile_difference,
)
from abnb.stats.power import duration, mde, sample_size
from abnb.stats.proportions import (
    ProportionDifference,
    ProportionInterval,
    ProportionRatio,
    proportion_difference,
    proportion_ratio,
    wilson,
)
from abnb.stats.ratio import RatioMoments, ratio
from abnb.stats.regression import RegressionEffect, ratio_cuped, regression_adjust
from abnb.stats.sequential import (
    GroupSequentialResult,
    SequentialEffect,
    confidence_sequence,
    group_sequential_bounds,
    group_sequential_test,
    msprt,
)
from abnb.stats.simulate import CalibrationResult, PeekingResult, aa_test, calibrate, peeking
from abnb.stats.srm import SrmResult, srm
from abnb.stats.stratify import poststratify

__all__ = [
    "ALPHA_MAX",
    "ALPHA_MIN",
    "BayesResult",
    "BootstrapResult",
    "CalibrationResult",
    "ConfidenceInterval",
    "CupedEffect",
    "Effect",
    "ExactTestResult",
    "GroupSequentialResult",
    "IntervalEstimate",
    "JointMoments",
    "Moments",
    "NonInferiorityResult",
    "PeekingResult",
    "ProportionDifference",
    "ProportionInterval",
    "ProportionRatio",
    "QuantileDifferenceResult",
    "QuantileResult",
    "RatioMoments",
    "RegressionEffect",
    "SequentialEffect",
    "ShiftResult",
    "SrmResult",
    "aa_test",
    "adjust",
    "adjusted_interval",
    "barnard",
    "bootstrap",
    "calibrate",
    "chance_to_beat",
    "check_alpha",
    "confidence_sequence",
    "cuped",
    "duration",
    "fisher",
    "group_sequential_bounds",
    "group_sequential_test",
    "mann_whitney",
    "mde",
    "msprt",
    "noninferiority",
    "paired",
    "peeking",
    "poststratify",
    "proportion_difference",
    "proportion_ratio",
    "quantile_ci",
    "quantile_difference",
    "ratio",
    "ratio_cuped",
    "regression_adjust",
    "sample_size",
    "srm",
    "welch",
    "wilson",
    "ztest",
]
