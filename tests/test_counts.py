from __future__ import annotations

import pytest

from abnb.counts import conversion_table
from abnb.errors import ParameterError

# The four-variant conversion table of the lecture (source: conversionsciences.com, "A/B testing statistics"):
# rates 12.9% (±1.1%), 12.6% (±1.1%), 11.3% (±1.0%), 10.3% (±1.0%); improvement +25.4%, +22.5%, +9.2%;
# chance to beat baseline 100.0%, 99.9%, 90.2%.
VARIANTS = {
    "Original Page": (378, 3662),
    "Test it out": (462, 3568),
    "Give it a try": (440, 3479),
    "Try it out": (395, 3504),
}


@pytest.fixture(scope="module")
def table():
    return conversion_table(VARIANTS, baseline="Original Page").set_index("variant")


def test_reproduces_the_published_table(table) -> None:
    assert [round(100 * r, 1) for r in table["rate"]] == [10.3, 12.9, 12.6, 11.3]
    assert [round(100 * r, 1) for r in table["plus_minus"]] == [1.0, 1.1, 1.1, 1.0]  # 1.05% rounds half to even
    assert [round(100 * i, 1) for i in table["improvement"].iloc[1:]] == [25.4, 22.5, 9.2]
    assert [round(100 * c, 1) for c in table["chance_normal"].iloc[1:]] == [100.0, 99.9, 90.2]


def test_three_conventions_explain_902_903_893(table) -> None:
    row = table.loc["Try it out"]
    assert round(100 * row["chance_normal"], 1) == 90.2  # normal approximation of the difference (the tool's table)
    assert round(100 * row["chance_beta"], 1) == 90.3  # exact Beta(1, 1) posteriors
    assert round(100 * row["chance_lift"], 1) == 89.3  # normal on the lift, delta-method variance (GrowthBook)


def test_bad_baseline() -> None:
    with pytest.raises(ParameterError, match="baseline 'Control'"):
        conversion_table(VARIANTS, baseline="Control")


def test_alpha_sets_the_plus_minus() -> None:
    import math

    from scipy import stats

    row = conversion_table(VARIANTS, baseline="Original Page", alpha=0.1).set_index("variant").loc["Original Page"]
    p = 378 / 3662
    assert row["plus_minus"] == pytest.approx(stats.norm.ppf(0.95) * math.sqrt(p * (1 - p) / 3662), rel=1e-12)
    with pytest.raises(ParameterError, match="alpha"):
        conversion_table(VARIANTS, baseline="Original Page", alpha=0.95)
