"""Treatment response: did the jerk rate change after a dose change?

Model.  Night ``i`` has ``y_i`` jerks during ``t_i`` hours of sleep.  A quasi-Poisson GLM
with log link, offset ``log t_i`` and a before/after indicator ``x_i``::

    log E[y_i] = log t_i + b0 + b1 x_i,        Var[y_i] = phi E[y_i]

``exp(b1)`` is the rate ratio (after / before) of jerks per hour of sleep.  With a single
binary covariate the maximum-likelihood estimates are closed-form: the rate on each side is
its pooled jerks over its pooled hours of sleep (long nights weigh more), and
``Var(b1) = phi (1/Y_before + 1/Y_after)`` (``Y`` = total jerks of a side).  Nights vary
more than a Poisson process would (sleep quality, drug levels, ...): the dispersion ``phi``
is estimated from the Pearson statistic, ``X^2 / (n - 2)``, and never taken below 1 (a
smaller estimate from a handful of nights would only pretend precision).  The confidence
interval and the Wald p-value use Student's t with ``n - 2`` degrees of freedom, as R's
``glm(family = quasipoisson)`` and statsmodels' ``GLM(..., Poisson()).fit(scale="X2",
use_t=True)`` do (the tests check against the latter).  A quasi-Poisson model is preferred
to a negative binomial one because its dispersion is estimated robustly from a few nights,
where the negative binomial shape parameter is not.

When one side has no jerk at all the estimate is 0 (or infinite) and the Wald interval does
not exist; then the interval comes from the exact conditional test (given the total, the
jerks after the change are binomial), with counts divided by ``phi`` (the quasi-likelihood
equivalent of overdispersion).

Too little data: fewer than ``min_nights`` usable nights on either side, or fewer than
``min_jerks`` jerks in both windows together; then no ratio is reported, only the rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo

from scipy import stats as sps

from detector.errors import ConfigError, InputError
from reports.nightdata import NightRecord, local_time
from storage.local import Annotation

__all__ = [
    "RateComparison",
    "ResponseOptions",
    "TreatmentResponse",
    "compare_rates",
    "poisson_rate_ci",
    "treatment_response",
    "treatment_responses",
]

_DAY_S = 86400.0


def poisson_rate_ci(count: int, hours: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of a Poisson rate, events per hour.

    Args:
        count: events observed (>= 0).  hours: exposure, h (> 0).  level: e.g. 0.95.
    """
    if count < 0 or not (math.isfinite(hours) and hours > 0):
        raise InputError(f"need count >= 0 and hours > 0, got {count} and {hours}")
    alpha = 1.0 - level
    lo = 0.0 if count == 0 else float(sps.chi2.ppf(alpha / 2, 2 * count)) / 2
    hi = float(sps.chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return lo / hours, hi / hours


@dataclass(frozen=True, slots=True)
class RateComparison:
    """Jerks per hour of sleep after vs before a change.

    Attributes:
        nights_before / nights_after: nights used.  jerks_*: their jerks.  hours_*: their
            hours of sleep, h.  rate_*: pooled jerks per hour of sleep (None without sleep).
        enough: enough data to tell (see ``reason`` otherwise).
        rate_ratio, ci_low, ci_high: after / before and its confidence interval at
            ``level`` (None when not ``enough``; ``ci_high`` may be ``inf``).
        p_value: two-sided, for a rate ratio of 1.
        dispersion: Pearson X^2 / (n - 2), night-to-night overdispersion (1 = Poisson);
            ``scale``: what the interval used, max(1, dispersion).  df: n - 2.
        method: ``quasi-poisson`` (Wald, t) or ``exact-conditional`` (a side with 0 jerks).
    """

    nights_before: int
    nights_after: int
    jerks_before: int
    jerks_after: int
    hours_before: float
    hours_after: float
    rate_before: float | None
    rate_after: float | None
    enough: bool
    reason: str | None
    rate_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    dispersion: float | None = None
    scale: float | None = None
    df: int = 0
    level: float = 0.95
    method: str | None = None


def _check_side(counts: Sequence[int], hours: Sequence[float], side: str) -> None:
    if len(counts) != len(hours):
        raise InputError(f"{side}: {len(counts)} counts but {len(hours)} hours of sleep")
    for c, h in zip(counts, hours, strict=True):
        if isinstance(c, bool) or int(c) != c or c < 0:
            raise InputError(f"{side}: jerk counts must be integers >= 0, got {c!r}")
        if not (math.isfinite(h) and h > 0):
            raise InputError(f"{side}: hours of sleep must be > 0, got {h!r}")


def compare_rates(
    counts_before: Sequence[int],
    hours_before: Sequence[float],
    counts_after: Sequence[int],
    hours_after: Sequence[float],
    *,
    level: float = 0.95,
    min_nights: int = 3,
    min_jerks: int = 10,
) -> RateComparison:
    """Quasi-Poisson rate ratio (after / before) of nightly jerk counts per hour of sleep.

    Args:
        counts_*: jerks in sleep, one per night.  hours_*: hours of sleep of those nights.
        level: confidence level of the interval.
        min_nights: fewer usable nights on either side is too little data.
        min_jerks: fewer jerks on both sides together is too little data.
    """
    if not 0 < level < 1:
        raise ConfigError(f"confidence level must be within (0, 1), got {level}")
    _check_side(counts_before, hours_before, "before")
    _check_side(counts_after, hours_after, "after")
    y0, y1 = int(sum(counts_before)), int(sum(counts_after))
    t0, t1 = float(sum(hours_before)), float(sum(hours_after))
    n0, n1 = len(counts_before), len(counts_after)
    reason = None
    if n0 < min_nights or n1 < min_nights:
        side, n = ("before", n0) if n0 < min_nights else ("after", n1)
        reason = (
            f"only {n} night{'s' if n != 1 else ''} with a sleep estimate {side} the change "
            f"({min_nights} needed)"
        )
    elif y0 + y1 < min_jerks:
        reason = f"only {y0 + y1} jerks in both windows together ({min_jerks} needed)"
    base = RateComparison(
        nights_before=n0,
        nights_after=n1,
        jerks_before=y0,
        jerks_after=y1,
        hours_before=t0,
        hours_after=t1,
        rate_before=y0 / t0 if t0 > 0 else None,
        rate_after=y1 / t1 if t1 > 0 else None,
        enough=False,
        reason=reason,
        level=level,
    )
    if reason is not None:
        return base

    r0, r1 = y0 / t0, y1 / t1
    # Pearson X^2 of the two-group fit (mu_i = t_i * rate of its side).
    x2 = 0.0
    for counts, hours, r in ((counts_before, hours_before, r0), (counts_after, hours_after, r1)):
        for c, h in zip(counts, hours, strict=True):
            mu = h * r
            if mu > 0:
                x2 += (c - mu) ** 2 / mu
    df = n0 + n1 - 2
    dispersion = x2 / df
    scale = max(1.0, dispersion)
    alpha = 1.0 - level
    if y0 > 0 and y1 > 0:
        b1 = math.log(r1 / r0)
        se = math.sqrt(scale * (1.0 / y0 + 1.0 / y1))
        q = float(sps.t.ppf(1 - alpha / 2, df))
        ratio, lo, hi = math.exp(b1), math.exp(b1 - q * se), math.exp(b1 + q * se)
        p = float(2 * sps.t.sf(abs(b1) / se, df))
        method = "quasi-poisson"
    else:
        # One side without jerks: exact conditional binomial on overdispersion-deflated
        # counts.
        n_eff = (y0 + y1) / scale
        pi0 = t1 / (t0 + t1)  # share of jerks after the change if nothing changed
        odds = t0 / t1
        if y1 == 0:
            pi_hi = 1.0 - (alpha / 2) ** (1.0 / n_eff)
            ratio, lo, hi = 0.0, 0.0, pi_hi / (1 - pi_hi) * odds
            p = min(1.0, 2.0 * (1.0 - pi0) ** n_eff)
        else:
            pi_lo = (alpha / 2) ** (1.0 / n_eff)
            ratio, lo, hi = math.inf, pi_lo / (1 - pi_lo) * odds, math.inf
            p = min(1.0, 2.0 * pi0**n_eff)
        method = "exact-conditional"
    return replace(
        base,
        enough=True,
        rate_ratio=ratio,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        dispersion=dispersion,
        scale=scale,
        df=df,
        method=method,
    )


@dataclass(frozen=True)
class ResponseOptions:
    """Windows and rules of a before/after comparison around a change.

    Attributes:
        before_days: length of the window before the change, days (None: every night of
            the report back to the previous change).
        after_days: length of the window after the washout, days (None: every night up to
            the next change).
        washout_days: days right after the change left out (the drug reaching steady
            state, titration).
        min_nights: usable nights needed on each side.
        min_jerks: jerks needed on both sides together.
        min_sleep_h: nights with less estimated sleep (h) are left out.
        level: confidence level of the interval.
    """

    before_days: float | None = None
    after_days: float | None = None
    washout_days: float = 0.0
    min_nights: int = 3
    min_jerks: int = 10
    min_sleep_h: float = 0.5
    level: float = 0.95

    def __post_init__(self) -> None:
        for name in ("before_days", "after_days", "washout_days", "min_sleep_h"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number, got {v!r}")
            if v < 0 or (name in ("before_days", "after_days") and v == 0):
                raise ConfigError(f"{name} must be {'> 0' if 'days' in name else '>= 0'}")
        for name in ("min_nights", "min_jerks"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0.5 <= self.level < 1:
            raise ConfigError(f"level must be within [0.5, 1), got {self.level}")


@dataclass(frozen=True, slots=True)
class TreatmentResponse:
    """One change and the comparison around it.

    Attributes:
        change: the annotation (time of the change, s since the epoch; text).
        before / after: the nights used on each side.
        left_out: nights in a window but not used, with the reason.
        window_before / window_after: [start, end) in s since the epoch.
        comparison: the statistics.  sentence: the plain-language verdict.
    """

    change: Annotation
    before: tuple[NightRecord, ...]
    after: tuple[NightRecord, ...]
    left_out: tuple[tuple[NightRecord, str], ...]
    window_before: tuple[float, float]
    window_after: tuple[float, float]
    comparison: RateComparison
    sentence: str


def _fmt_ratio(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.2f}"


def response_sentence(change: Annotation, cmp: RateComparison, tz: tzinfo | None = None) -> str:
    """The plain-language verdict, e.g. "After the change on 2026-11-02 (clonazepam 0.5 mg
    -> 1 mg), jerks fell from 8.1 to 3.9 per hour of sleep (rate ratio 0.48, 95% CI
    0.35-0.66)."""
    day = local_time(change.time_s, tz).date().isoformat()
    what = f"the change on {day}" + (f" ({change.text})" if change.text else "")
    if not cmp.enough:
        return f"Too little data to tell whether jerks changed after {what}: {cmp.reason}."
    assert cmp.rate_before is not None and cmp.rate_after is not None
    assert cmp.rate_ratio is not None and cmp.ci_low is not None and cmp.ci_high is not None
    pct = f"{round(cmp.level * 100):d}%"
    stats = (
        f"(rate ratio {_fmt_ratio(cmp.rate_ratio)}, {pct} CI "
        f"{_fmt_ratio(cmp.ci_low)}-{_fmt_ratio(cmp.ci_high)})"
    )
    rates = f"{cmp.rate_before:.1f} to {cmp.rate_after:.1f} per hour of sleep"
    if cmp.ci_high < 1:
        return f"After {what}, jerks fell from {rates} {stats}."
    if cmp.ci_low > 1:
        return f"After {what}, jerks rose from {rates} {stats}."
    return (
        f"After {what}, jerks went from {rates} {stats}: no clear change, the difference "
        "is within the night-to-night variation."
    )


def treatment_response(
    records: Sequence[NightRecord],
    change: Annotation,
    options: ResponseOptions | None = None,
    *,
    previous_change_s: float | None = None,
    next_change_s: float | None = None,
    tz: tzinfo | None = None,
) -> TreatmentResponse:
    """Compare nights before ``change`` with nights after it (after the washout).

    A night is on the side of the change its start falls on.  The before window reaches
    back ``before_days`` but not past the previous change (plus its washout); the after
    window starts ``washout_days`` after the change and lasts ``after_days``, stopping at
    the next change, so each comparison is between two adjacent regimes.
    """
    opt = options or ResponseOptions()
    c = change.time_s
    wash = opt.washout_days * _DAY_S
    b_lo = -math.inf if opt.before_days is None else c - opt.before_days * _DAY_S
    if previous_change_s is not None:
        b_lo = max(b_lo, previous_change_s + wash)
    a_lo = c + wash
    a_hi = math.inf if opt.after_days is None else a_lo + opt.after_days * _DAY_S
    if next_change_s is not None:
        a_hi = min(a_hi, next_change_s)
    before: list[NightRecord] = []
    after: list[NightRecord] = []
    left_out: list[tuple[NightRecord, str]] = []
    for r in sorted(records, key=lambda r: r.start_s):
        side = before if b_lo <= r.start_s < c else after if a_lo <= r.start_s < a_hi else None
        if side is None:
            continue
        if r.sleep_h is None or r.jerks_in_sleep is None:
            left_out.append((r, "no sleep estimate"))
        elif r.sleep_h < opt.min_sleep_h:
            left_out.append((r, f"less than {opt.min_sleep_h:g} h of sleep"))
        else:
            side.append(r)
    cmp = compare_rates(
        [r.jerks_in_sleep or 0 for r in before],
        [r.sleep_h or 0.0 for r in before],
        [r.jerks_in_sleep or 0 for r in after],
        [r.sleep_h or 0.0 for r in after],
        level=opt.level,
        min_nights=opt.min_nights,
        min_jerks=opt.min_jerks,
    )
    return TreatmentResponse(
        change=change,
        before=tuple(before),
        after=tuple(after),
        left_out=tuple(left_out),
        window_before=(b_lo, c),
        window_after=(a_lo, a_hi),
        comparison=cmp,
        sentence=response_sentence(change, cmp, tz),
    )


def treatment_responses(
    records: Sequence[NightRecord],
    changes: Sequence[Annotation],
    options: ResponseOptions | None = None,
    tz: tzinfo | None = None,
) -> list[TreatmentResponse]:
    """:func:`treatment_response` for each change, in time order, each bounded by its
    neighbours."""
    ordered = sorted(changes, key=lambda a: a.time_s)
    out = []
    for i, ch in enumerate(ordered):
        out.append(
            treatment_response(
                records,
                ch,
                options,
                previous_change_s=ordered[i - 1].time_s if i > 0 else None,
                next_change_s=ordered[i + 1].time_s if i + 1 < len(ordered) else None,
                tz=tz,
            )
        )
    return out
