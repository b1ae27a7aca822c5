"""Treatment-response statistics against known answers: statsmodels' quasi-Poisson GLM, exact
binomial intervals, hand-computed values and Monte Carlo coverage."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from detector.errors import ConfigError, InputError
from reports.nightdata import NightRecord
from reports.stats import (
    RateComparison,
    ResponseOptions,
    compare_rates,
    poisson_rate_ci,
    response_sentence,
    treatment_response,
    treatment_responses,
)
from storage import Annotation


def _statsmodels_fit(
    y0: list[int], t0: list[float], y1: list[int], t1: list[float], scale: str | float
) -> tuple[float, float, float, float, float]:
    """(rate ratio, ci low, ci high, p, scale) from statsmodels' Poisson GLM with offset."""
    y = np.array(y0 + y1, dtype=float)
    x = np.array([0] * len(y0) + [1] * len(y1), dtype=float)
    offset = np.log(np.array(t0 + t1))
    res = sm.GLM(y, sm.add_constant(x), family=sm.families.Poisson(), offset=offset).fit(
        scale=scale, use_t=True
    )
    lo, hi = res.conf_int(alpha=0.05)[1]
    return (
        float(np.exp(res.params[1])),
        float(np.exp(lo)),
        float(np.exp(hi)),
        float(res.pvalues[1]),
        float(res.scale),
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_quasi_poisson_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n0, n1 = int(rng.integers(3, 15)), int(rng.integers(3, 15))
    t0 = list(rng.uniform(4, 9, n0))
    t1 = list(rng.uniform(4, 9, n1))
    # Gamma-Poisson (negative binomial) nights: overdispersed, true rate ratio 0.5.
    y0 = [int(rng.poisson(8.0 * t * rng.gamma(4, 1 / 4))) for t in t0]
    y1 = [int(rng.poisson(4.0 * t * rng.gamma(4, 1 / 4))) for t in t1]
    cmp = compare_rates(y0, t0, y1, t1)
    assert cmp.enough and cmp.method == "quasi-poisson"
    assert cmp.dispersion is not None and cmp.rate_ratio is not None
    rr, lo, hi, p, scale = _statsmodels_fit(y0, t0, y1, t1, "X2")
    if cmp.dispersion < 1:  # our floor: Poisson variance at least
        rr, lo, hi, p, scale = _statsmodels_fit(y0, t0, y1, t1, 1.0)
    else:
        assert cmp.dispersion == pytest.approx(scale, rel=1e-9)
    assert cmp.rate_ratio == pytest.approx(rr, rel=1e-9)
    assert cmp.ci_low == pytest.approx(lo, rel=1e-7)
    assert cmp.ci_high == pytest.approx(hi, rel=1e-7)
    assert cmp.p_value == pytest.approx(p, rel=1e-6, abs=1e-12)
    assert cmp.df == n0 + n1 - 2
    # The pooled rates are the GLM's fitted rates.
    assert cmp.rate_before == pytest.approx(sum(y0) / sum(t0))
    assert cmp.rate_after == pytest.approx(sum(y1) / sum(t1))


def test_hand_computed_example() -> None:
    # Before: 10, 12, 8 jerks in 1 h each (rate 10/h); after: 5, 5, 5 (5/h).
    # Pearson X2 = (0 + 4 + 4) / 10 = 0.8, df = 4: dispersion 0.2, floored to 1.
    # se(log RR) = sqrt(1/30 + 1/15) = sqrt(0.1); t(4, 0.975) = 2.776445.
    cmp = compare_rates([10, 12, 8], [1.0] * 3, [5, 5, 5], [1.0] * 3)
    assert cmp.rate_ratio == pytest.approx(0.5)
    assert cmp.dispersion == pytest.approx(0.2)
    assert cmp.scale == 1.0
    half = 2.7764451051977987 * math.sqrt(0.1)
    assert cmp.ci_low == pytest.approx(0.5 * math.exp(-half))
    assert cmp.ci_high == pytest.approx(0.5 * math.exp(half))
    assert cmp.ci_low == pytest.approx(0.2078, abs=1e-4)
    assert cmp.ci_high == pytest.approx(1.2031, abs=1e-4)


def test_overdispersion_widens_the_interval() -> None:
    steady = compare_rates([40, 40, 40, 40], [5.0] * 4, [20, 20, 20, 20], [5.0] * 4)
    noisy = compare_rates([10, 70, 15, 65], [5.0] * 4, [5, 35, 8, 32], [5.0] * 4)
    assert steady.rate_ratio == pytest.approx(0.5)
    assert noisy.rate_ratio == pytest.approx(80 / 160)
    assert steady.dispersion == pytest.approx(0.0)
    assert noisy.dispersion is not None and noisy.dispersion > 10
    assert steady.ci_high is not None and noisy.ci_high is not None
    assert noisy.ci_high > 1 > steady.ci_high  # same pooled rates, only one is convincing


def test_exact_interval_when_a_side_has_no_jerk() -> None:
    y0, t0 = [10, 8, 12, 9], [6.0, 7.0, 6.5, 7.5]
    y1, t1 = [0, 0, 0], [7.0, 6.0, 8.0]
    cmp = compare_rates(y0, t0, y1, t1)
    assert cmp.method == "exact-conditional" and cmp.rate_ratio == 0.0 and cmp.ci_low == 0.0
    assert cmp.scale == 1.0
    # Conditional on 39 jerks, the share after the change is binomial: Clopper-Pearson.
    ci = sps.binomtest(0, 39, 0.5).proportion_ci(0.95, method="exact")
    pi_hi = ci.high
    assert cmp.ci_high == pytest.approx(pi_hi / (1 - pi_hi) * sum(t0) / sum(t1), rel=1e-9)
    pi0 = sum(t1) / (sum(t0) + sum(t1))
    p_one = sps.binomtest(0, 39, pi0, alternative="less").pvalue
    assert cmp.p_value == pytest.approx(min(1.0, 2 * p_one), rel=1e-9)
    up = compare_rates(y1, t1, y0, t0)  # the other way round: infinite ratio
    assert up.rate_ratio == math.inf and up.ci_high == math.inf
    assert up.ci_low == pytest.approx(1 / cmp.ci_high, rel=1e-9)


def test_too_little_data() -> None:
    few_nights = compare_rates([30, 31, 29], [6.0] * 3, [10, 12], [6.0] * 2)
    assert not few_nights.enough and few_nights.rate_ratio is None
    assert few_nights.reason == "only 2 nights with a sleep estimate after the change (3 needed)"
    assert few_nights.rate_after == pytest.approx(22 / 12)
    few_jerks = compare_rates([2, 1, 2], [6.0] * 3, [1, 0, 1], [6.0] * 3)
    assert not few_jerks.enough
    assert few_jerks.reason == "only 7 jerks in both windows together (10 needed)"
    ok = compare_rates([2, 1, 2], [6.0] * 3, [1, 0, 1], [6.0] * 3, min_jerks=5)
    assert ok.enough


def test_input_checks() -> None:
    with pytest.raises(InputError, match="hours"):
        compare_rates([1, 2, 3], [1.0, 0.0, 1.0], [1, 2, 3], [1.0] * 3)
    with pytest.raises(InputError, match="2 counts but 3"):
        compare_rates([1, 2], [1.0] * 3, [1, 2, 3], [1.0] * 3)
    with pytest.raises(InputError, match="integers"):
        compare_rates([1, -2, 3], [1.0] * 3, [1, 2, 3], [1.0] * 3)
    with pytest.raises(ConfigError):
        ResponseOptions(min_nights=0)
    with pytest.raises(ConfigError):
        ResponseOptions(before_days=0)
    with pytest.raises(ConfigError):
        ResponseOptions(level=1.0)


def test_interval_coverage_under_overdispersion() -> None:
    """95% intervals from negative-binomial nights cover the true ratio about 95% of the
    time; the t quantile and the dispersion floor make them, if anything, conservative."""
    rng = np.random.default_rng(7)
    true_rr, covered, n_rep = 0.5, 0, 600
    for _ in range(n_rep):
        t0, t1 = rng.uniform(5, 8, 7), rng.uniform(5, 8, 7)
        y0 = rng.poisson(10 * t0 * rng.gamma(5, 1 / 5, 7))
        y1 = rng.poisson(10 * true_rr * t1 * rng.gamma(5, 1 / 5, 7))
        c = compare_rates(y0.tolist(), t0.tolist(), y1.tolist(), t1.tolist())
        assert c.ci_low is not None and c.ci_high is not None
        covered += c.ci_low <= true_rr <= c.ci_high
    assert 0.92 <= covered / n_rep <= 0.99


def test_false_alarms_without_a_change() -> None:
    rng = np.random.default_rng(11)
    alarms, n_rep = 0, 600
    for _ in range(n_rep):
        t0, t1 = rng.uniform(5, 8, 5), rng.uniform(5, 8, 5)
        y0, y1 = rng.poisson(6 * t0), rng.poisson(6 * t1)
        c = compare_rates(y0.tolist(), t0.tolist(), y1.tolist(), t1.tolist())
        assert c.p_value is not None
        alarms += c.p_value < 0.05
    assert alarms / n_rep <= 0.07


def test_poisson_rate_ci_known_values() -> None:
    assert poisson_rate_ci(0, 1.0) == (0.0, pytest.approx(3.6889, abs=1e-4))
    lo, hi = poisson_rate_ci(10, 2.0)
    assert (lo, hi) == (pytest.approx(4.7954 / 2, abs=1e-4), pytest.approx(18.3904 / 2, abs=1e-4))
    with pytest.raises(InputError):
        poisson_rate_ci(3, 0.0)


def _at(y: int, m: int, d: int, hh: int = 12) -> float:
    return datetime(y, m, d, hh).astimezone().timestamp()


def test_sentence_as_in_the_issue() -> None:
    change = Annotation("s1", _at(2026, 11, 2, 9), "clonazepam 0.5 mg -> 1 mg")
    cmp = RateComparison(
        nights_before=7,
        nights_after=7,
        jerks_before=405,
        jerks_after=195,
        hours_before=50.0,
        hours_after=50.0,
        rate_before=8.1,
        rate_after=3.9,
        enough=True,
        reason=None,
        rate_ratio=0.4815,
        ci_low=0.351,
        ci_high=0.662,
        p_value=1e-6,
        dispersion=1.3,
        scale=1.3,
        df=12,
        method="quasi-poisson",
    )
    assert response_sentence(change, cmp) == (
        "After the change on 2026-11-02 (clonazepam 0.5 mg -> 1 mg), jerks fell from 8.1 to "
        "3.9 per hour of sleep (rate ratio 0.48, 95% CI 0.35-0.66)."
    )
    same = compare_rates([40, 44, 38], [5.0] * 3, [41, 39, 43], [5.0] * 3)
    assert response_sentence(change, same).endswith(
        "no clear change, the difference is within the night-to-night variation."
    )
    few = compare_rates([40, 44], [5.0] * 2, [41, 39, 43], [5.0] * 3)
    assert response_sentence(change, few) == (
        "Too little data to tell whether jerks changed after the change on 2026-11-02 "
        "(clonazepam 0.5 mg -> 1 mg): only 2 nights with a sleep estimate before the change "
        "(3 needed)."
    )


def _rec(day: date, jerks: int | None, sleep_h: float | None) -> NightRecord:
    start = datetime(day.year, day.month, day.day, 22).astimezone().timestamp()
    rate = None if jerks is None or not sleep_h else jerks / sleep_h
    return NightRecord(
        subject="s1",
        night=day,
        start_s=start,
        end_s=start + 8 * 3600,
        sleep_onset_s=None,
        wake_s=None,
        sleep_h=sleep_h,
        sleep_source="none" if sleep_h is None else "detector",
        recording_h=8.0,
        signal_h=8.0,
        sensors=1,
        gaps=0,
        gap_h=0.0,
        jerks=jerks or 0,
        jerks_in_sleep=jerks if sleep_h is not None else None,
        hypnic=0,
        myoclonic=jerks or 0,
        series=0,
        bilateral=0,
        rate_per_h_sleep=rate,
        detector_version="0.1.0",
        detector_config=None,
    )


def test_windows_washout_and_neighbouring_changes() -> None:
    days = [date(2026, 10, d) for d in range(1, 31)]
    recs = [_rec(d, 40 if d.day < 11 else 20 if d.day < 21 else 10, 7.0) for d in days]
    recs[3] = _rec(days[3], None, None)  # no sleep estimate
    recs[4] = _rec(days[4], 5, 0.3)  # barely slept
    first = Annotation("s1", _at(2026, 10, 11, 9), "dose up")
    second = Annotation("s1", _at(2026, 10, 21, 9), "dose up again")
    opt = ResponseOptions(washout_days=2)
    r1, r2 = treatment_responses(recs, [second, first], opt)
    assert r1.change == first and r2.change == second
    assert [r.night.day for r in r1.before] == [1, 2, 3, 6, 7, 8, 9, 10]
    assert [(r.night.day, why) for r, why in r1.left_out] == [
        (4, "no sleep estimate"),
        (5, "less than 0.5 h of sleep"),
    ]
    # Washout of 2 days after 11 Oct 09:00: the nights of the 11th and 12th are left out;
    # the after window stops at the next change.
    assert [r.night.day for r in r1.after] == list(range(13, 21))
    assert r1.comparison.rate_ratio == pytest.approx(0.5)
    # The second comparison starts after the first change's washout.
    assert [r.night.day for r in r2.before] == list(range(13, 21))
    assert [r.night.day for r in r2.after] == list(range(23, 31))
    assert r2.comparison.rate_ratio == pytest.approx(0.5)
    short = treatment_response(recs, first, ResponseOptions(before_days=3, after_days=4))
    assert [r.night.day for r in short.before] == [8, 9, 10]
    assert [r.night.day for r in short.after] == [11, 12, 13, 14]
