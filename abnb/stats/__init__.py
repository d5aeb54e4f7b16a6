"""Statistics from sufficient statistics."""

from abnb.stats._effect import ConfidenceInterval, Effect
from abnb.stats.frequentist import welch, ztest
from abnb.stats.moments import Moments
from abnb.stats.srm import SrmResult, srm

__all__ = ["ConfidenceInterval", "Effect", "Moments", "SrmResult", "srm", "welch", "ztest"]
