"""The one check of a significance level ``alpha`` that every test, interval and spec shares."""

from __future__ import annotations

import math
from numbers import Real

from abnb.errors import AbnbError, ParameterError

__all__ = ["ALPHA_MAX", "ALPHA_MIN", "check_alpha"]

ALPHA_MIN = 1e-10
"""Smallest alpha accepted (exclusive): below it ``1 − alpha`` loses the digits the normal quantiles need."""

ALPHA_MAX = 0.5
"""Largest alpha accepted (inclusive): a larger one calls a coin flip significant (a 50 % interval or narrower)."""


def check_alpha(alpha: object, *, what: str = "alpha", error: type[AbnbError] = ParameterError) -> float:
    """Return ``alpha`` as a float if ``1e-10 < alpha <= 0.5``; otherwise raise ``error`` naming ``what``.

    A significance level is the false-positive rate one accepts: above 0.5 the ``1 − alpha`` interval covers less
    than half of the sampling distribution, so ``alpha = 0.999999`` declares ``p = 0.94`` significant (and a
    report would say "ship"); below ``1e-10`` the sequential bounds' ``log(1 − alpha)`` and the normal quantiles
    round (``1 − 1e-20 == 1``) and fail with a math domain error.

    Raises:
        ParameterError: (or ``error``) ``alpha`` is not a real number in ``(1e-10, 0.5]``.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < float(alpha) < 1.0:
        raise error(f"{what} must be a number strictly between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    value = float(alpha)
    if not math.isfinite(value) or not ALPHA_MIN < value <= ALPHA_MAX:
        raise error(
            f"{what} = {alpha!r} is outside the supported range 1e-10 < alpha <= 0.5: above 0.5 a result that is "
            "more likely noise than not counts as significant (the interval covers less than half of the sampling "
            "distribution), and below 1e-10 the quantiles lose their precision. Use a usual level, e.g. 0.05 "
            "(95 % intervals) or 0.01."
        )
    return value
