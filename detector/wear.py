"""Non-wear detection in the spirit of van Hees et al. (2011, 2013; GGIR).

van Hees V.T. et al., "Estimation of daily energy expenditure in pregnant and non-pregnant
women using a wrist-worn tri-axial accelerometer", PLoS ONE 6 (2011) e22922, and
"Separating movement and gravity components in an acceleration signal and implications for
the assessment of human daily physical activity", PLoS ONE 8 (2013) e61691: a window is
non-wear when, on at least two of the three axes, the standard deviation stays below ~13 mg
and the value range below ~50 mg.  A worn wrist, even asleep, turns, twitches and fidgets
within an hour; a device on a table shows only sensor noise.

Two kinds of evidence, both per sample of the input:

* **Still windows**: per-minute sums (n, sum, sum of squares, min, max per axis) are pooled
  over ``window_s`` (GGIR's 60 min) ending at every minute; a window whose pooled statistics
  meet the criteria, and which holds at least half its length of samples, makes every minute
  in it not worn.
* **Idle mode**: research devices in idle or sleep mode write the last sample again and
  again.  A run of exactly repeated samples (all three axes) lasting ``idle_min_s`` or more
  is not measured signal; it is counted as not worn.

Results are final ``window_s`` after they happen (a window must be complete), so the
estimate lags by up to an hour; :attr:`WearEstimator.still_s` gives the causal length of the
current still stretch, for a live "not worn for X min" warning.  Everything is a function of
the samples, independent of chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector import _features as _k
from detector.windows import window_runs

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WearParams:
    """Parameters (see :class:`~detector.config.DetectorConfig`)."""

    window_s: float = 3600.0
    sd_g: float = 0.013
    range_g: float = 0.050
    min_axes: int = 2
    idle_min_s: float = 60.0
    minute_s: float = 60.0


@dataclass(frozen=True, slots=True)
class NotWorn:
    """One not-worn period ``start`` .. ``end`` s (input time base), and why."""

    start: float
    end: float
    reason: str  # "still" or "idle"


class WearEstimator:
    """Streaming non-wear estimate for one sensor.

    Args:
        rate_hz: nominal input rate, Hz.
        params: :class:`WearParams`.
    """

    def __init__(self, rate_hz: float, params: WearParams | None = None) -> None:
        self._p = params if params is not None else WearParams()
        self._rate = float(rate_hz)
        self._win_n = max(1, round(self._p.window_s / self._p.minute_s))
        # Per-minute statistics: minute index -> (n, sum(3), sumsq(3), min(3), max(3)).
        self._stats: dict[int, FloatArray] = {}
        self._last_minute: int | None = None
        self._evaluated_until: int | None = None  # last window end (minute index) judged
        self._still_minutes: list[tuple[int, int]] = []  # [m0, m1) runs, merged
        self._idle: list[tuple[float, float]] = []
        # Idle-run state: value and start of the current run of identical samples.
        self._run_val: FloatArray | None = None
        self._run_t0 = 0.0
        self._run_t1 = 0.0
        self._last_t: float | None = None
        self._bridge_s = 3.5 / self._rate

    # ------------------------------------------------------------------ feeding
    def update(self, t: FloatArray, acc: FloatArray) -> None:
        """Add finite samples: t (n,) s increasing, acc (n, 3) g."""
        if t.size == 0:
            return
        self._idle_runs(t, acc)
        starts, m = window_runs(t, self._p.minute_s)
        # The rows of np.add/minimum/maximum.reduceat, compiled in one pass without the
        # (n, 3) temporaries (detector/_features.pyx).
        rows = _k.minute_stats(acc, starts)
        for mi, row in zip(m.tolist(), rows, strict=True):
            old = self._stats.get(mi)
            if old is None:
                self._stats[mi] = row
            else:
                old[0:7] += row[0:7]
                old[7:10] = np.minimum(old[7:10], row[7:10])
                old[10:13] = np.maximum(old[10:13], row[10:13])
        last = int(m[-1])
        if self._last_minute is not None and last > self._last_minute:
            self._evaluate(last - 1)
        self._last_minute = last

    def finish(self) -> None:
        """End of stream: judge the remaining windows and close an idle run."""
        self._close_run()
        if self._last_minute is not None:
            self._evaluate(self._last_minute)

    # ------------------------------------------------------------------ still windows
    def _evaluate(self, until: int) -> None:
        """Judge every window ending at minute ``.. until`` (inclusive) not yet judged."""
        p = self._p
        first = min(self._stats) if self._stats else until
        start = first if self._evaluated_until is None else self._evaluated_until + 1
        if start <= until:
            # The minutes first .. until as one array (rows of minutes without samples marked
            # absent): a window is a slice of it, not a list built per window.
            span = until - first + 1
            table = np.zeros((span, 13))
            present = np.zeros(span, dtype=bool)
            for k, row in self._stats.items():
                if first <= k <= until:
                    table[k - first] = row
                    present[k - first] = True
            # The window ends' sums and criteria, compiled (detector/_features.pyx).
            for m0, m1 in _k.still_windows(
                table,
                present.view(np.uint8),
                first,
                start,
                until,
                self._win_n,
                0.5 * p.window_s * self._rate,
                p.sd_g,
                p.range_g,
                p.min_axes,
            ):
                self._add_still(m0, m1)
            # Minutes older than any future window are no longer needed.
            for k in [k for k in self._stats if k <= until - self._win_n + 1]:
                del self._stats[k]
        self._evaluated_until = max(until, self._evaluated_until or until)

    def _add_still(self, m0: int, m1: int) -> None:
        runs = self._still_minutes
        if runs and m0 <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], m1))
        else:
            runs.append((m0, m1))

    # ------------------------------------------------------------------ idle runs
    def _idle_runs(self, t: FloatArray, acc: FloatArray) -> None:
        """Runs of exactly repeated samples (all axes), carried across chunks (vectorised:
        only the samples that repeat their predecessor are visited, which is few on a worn
        sensor)."""
        n = t.size
        same = _k.repeats(t, acc, self._bridge_s)  # sample i equals sample i - 1, adjacent
        if self._run_val is not None and self._last_t is not None:
            same[0] = bool((acc[0] == self._run_val).all()) and (
                t[0] - self._last_t <= self._bridge_s
            )
        # Groups of consecutive repeating samples [g0, g1]: the run of identical samples is
        # [g0 - 1, g1] (or, from g0 = 0, the run carried from the previous chunk).
        idx = np.flatnonzero(same)
        if idx.size:
            brk = np.flatnonzero(np.diff(idx) > 1)
            g0 = idx[np.concatenate(([0], brk + 1))]
            g1 = idx[np.concatenate((brk, [idx.size - 1]))]
        else:
            g0 = g1 = idx
        carried = bool(g0.size) and int(g0[0]) == 0
        if carried and int(g1[0]) == n - 1:
            # Every sample repeats the carried run, which goes on.
            self._run_t1 = float(t[-1])
            self._run_val = acc[-1].copy()
            self._last_t = float(t[-1])
            return
        if self._run_val is not None:
            # The carried run ends before the first new run starts.
            if carried:
                self._run_t1 = float(t[g1[0]])
            self._close_run()
        if carried:
            g0, g1 = g0[1:], g1[1:]
        # The last run (from the last sample that does not repeat) stays open.
        open_group = bool(g1.size) and int(g1[-1]) == n - 1
        last_start = int(g0[-1]) - 1 if open_group else n - 1
        if open_group:
            g0, g1 = g0[:-1], g1[:-1]
        dur = t[g1] - t[g0 - 1]
        for i in np.flatnonzero(dur >= self._p.idle_min_s).tolist():
            a = int(g0[i]) - 1
            self._run_t0, self._run_t1 = float(t[a]), float(t[g1[i]])
            self._run_val = acc[a].copy()
            self._close_run()
        self._run_t0 = float(t[last_start])
        self._run_t1 = float(t[-1])
        self._run_val = acc[-1].copy()
        self._last_t = float(t[-1])

    def _close_run(self) -> None:
        if self._run_val is not None and self._run_t1 - self._run_t0 >= self._p.idle_min_s:
            a, b = self._run_t0, self._run_t1
            if self._idle and a <= self._idle[-1][1] + self._bridge_s:
                self._idle[-1] = (self._idle[-1][0], b)
            else:
                self._idle.append((a, b))
        self._run_val = None

    # ------------------------------------------------------------------ queries
    @property
    def final_until(self) -> float:
        """Not-worn periods before this time (s) are final."""
        if self._evaluated_until is None:
            return -math.inf
        end = (self._evaluated_until + 1 - self._win_n + 1) * self._p.minute_s
        return min(end, self._run_t0 if self._run_val is not None else math.inf)

    def periods(self) -> list[NotWorn]:
        """Not-worn periods known so far, merged, in time order."""
        ms = self._p.minute_s
        items = [NotWorn(a * ms, b * ms, "still") for a, b in self._still_minutes]
        items += [NotWorn(a, b, "idle") for a, b in self._idle]
        run = self._run_val is not None and self._run_t1 - self._run_t0 >= self._p.idle_min_s
        if run:
            items.append(NotWorn(self._run_t0, self._run_t1, "idle"))
        items.sort(key=lambda x: x.start)
        out: list[NotWorn] = []
        for it in items:
            if out and it.start <= out[-1].end:
                last = out[-1]
                reason = last.reason if last.reason == it.reason else "still"
                out[-1] = NotWorn(last.start, max(last.end, it.end), reason)
            else:
                out.append(it)
        return out

    def not_worn_s(self, t0: float, t1: float) -> float:
        """Seconds of ``[t0, t1)`` inside known not-worn periods."""
        return sum(max(0.0, min(p.end, t1) - max(p.start, t0)) for p in self.periods())

    @property
    def still_s(self) -> float:
        """Causal: how long the sensor has looked unworn up to its newest complete minute,
        s (pooled statistics of the latest minutes meet the criteria; at most ``window_s``),
        or the current run of identical samples if longer.  For a live warning; the
        periods themselves are only final ``window_s`` later."""
        p = self._p
        out = 0.0
        if self._last_minute is not None:
            acc_rows: list[FloatArray] = []
            k = self._last_minute - 1
            while k in self._stats:
                acc_rows.append(self._stats[k])
                a = np.array(acc_rows)
                n = float(a[:, 0].sum())
                mean = a[:, 1:4].sum(axis=0) / n
                sd = np.sqrt(np.maximum(a[:, 4:7].sum(axis=0) / n - mean * mean, 0.0))
                rng = a[:, 10:13].max(axis=0) - a[:, 7:10].min(axis=0)
                if not (
                    int(np.count_nonzero(sd < p.sd_g)) >= p.min_axes
                    and int(np.count_nonzero(rng < p.range_g)) >= p.min_axes
                ):
                    break
                out = n / self._rate
                k -= 1
        return max(out, self.idle_s)

    @property
    def idle_s(self) -> float:
        """Length of the current run of identical samples, s (causal)."""
        return self._run_t1 - self._run_t0 if self._run_val is not None else 0.0
