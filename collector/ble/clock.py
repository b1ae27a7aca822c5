"""Sensor clock -> host time (pure, no I/O).

A sensor stamps its samples with its own clock (PMD: ns since 2000-01-01, but reset to a
default after power loss, and running a few ppm off).  The host knows when each frame
*arrived*; BLE only ever adds delay (connection interval, retransmissions, OS scheduling),
so for every frame ``host_rx - sensor_t >= true offset``.  The mapping is therefore the
*lower envelope* of ``d = host_rx - sensor_t`` against sensor time:

* points are binned by sensor time (``bin_s``) keeping each bin's minimum, over a sliding
  window of the latest ``window_s / bin_s`` occupied bins (``window_s`` of data; gaps
  without frames do not age the window);
* the line is the supporting line of the lower convex hull at the mean sensor time of the
  points, i.e. the line under all points that is closest to them on average (the
  linear-programming estimator of one-way-delay clock-skew removal).  BLE delivers
  notifications at connection events, so the delay of successive frames is a sawtooth whose
  phase walks with the relative drift of the sensor and link clocks; the hull rests on the
  sawtooth's minima.  Its slope is the drift, clipped
  to ``max_drift_ppm``; with less than ``min_span_for_drift_s`` of data the previous drift
  (initially 0) is kept.  The offset then puts the line under every point: the lowest
  delay seen is taken as zero delay (BLE's unobservable minimum latency stays a bias);
* a point far below the line (clock jumped forward) re-anchors at once; points far above
  it (a reset to an earlier time, or a huge delay) re-anchor only once ``confirm_frames``
  of them agree and arrived paced as they were sampled, so one very late frame, or the
  backlog a stalled host receives in one burst, does not break the mapping;
* the mapping survives reconnects: it is kept while the sensor clock continues, and only
  re-anchored on a detected reset or jump (or :meth:`SensorClockMapper.reset`).

Times are seconds (float); sensor and host times may be on any epoch.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detector.errors import ConfigError


class HostClock(Protocol):
    """Where host timestamps come from (``now_ns``: ns on the host time base)."""

    def now_ns(self) -> int: ...


class SystemHostClock:
    """Unix-epoch ns that never steps: the monotonic clock plus the wall-clock offset taken
    once at construction (so an NTP step mid-night does not look like a sensor jump)."""

    def __init__(self) -> None:
        self._offset_ns = time.time_ns() - time.monotonic_ns()

    def now_ns(self) -> int:
        return time.monotonic_ns() + self._offset_ns


@dataclass(frozen=True, slots=True)
class ClockMapConfig:
    """Tuning of :class:`SensorClockMapper`.

    Attributes:
        window_s: amount of data (sensor time with frames) that defines the envelope, s.
        bin_s: sensor-time bin in which only the least-delayed frame is kept, s.
        min_span_for_drift_s: data span needed before the drift is (re)estimated, s.
        max_drift_ppm: |drift| above this is clipped, parts per million.
        settle_frames: frames needed after an anchor before the mapping is ``ready``.
        settle_s: sensor-time span needed after an anchor before it is ``ready``, s.
        jump_threshold_s: a frame whose delay exceeds the envelope by more is a suspected
            clock jump, s.
        confirm_frames: consecutive agreeing suspects that confirm a backward jump.
        negative_tolerance_s: a frame this far *below* the envelope is a forward jump, s.
        wait_for_drift: not ``ready`` until a drift has been estimated (from
            ``min_span_for_drift_s`` of data - once per session: it survives clock resets),
            so the first minutes are mapped with the drift instead of without it.
    """

    window_s: float = 600.0
    bin_s: float = 2.0
    min_span_for_drift_s: float = 120.0
    max_drift_ppm: float = 200.0
    settle_frames: int = 40
    settle_s: float = 60.0
    jump_threshold_s: float = 2.0
    confirm_frames: int = 3
    negative_tolerance_s: float = 0.5
    wait_for_drift: bool = True

    def __post_init__(self) -> None:
        positive = {
            "window_s": self.window_s,
            "bin_s": self.bin_s,
            "jump_threshold_s": self.jump_threshold_s,
            "negative_tolerance_s": self.negative_tolerance_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"ClockMapConfig.{name} must be > 0, got {value}")
        if self.bin_s > self.window_s:
            raise ConfigError("ClockMapConfig.bin_s must not exceed window_s")
        if not (math.isfinite(self.min_span_for_drift_s) and self.min_span_for_drift_s >= 0):
            raise ConfigError("ClockMapConfig.min_span_for_drift_s must be >= 0")
        if not (math.isfinite(self.max_drift_ppm) and 0 <= self.max_drift_ppm <= 1e5):
            raise ConfigError("ClockMapConfig.max_drift_ppm must be in 0..100000")
        if self.settle_frames < 1 or self.confirm_frames < 1:
            raise ConfigError("settle_frames and confirm_frames must be >= 1")
        if not (math.isfinite(self.settle_s) and self.settle_s >= 0):
            raise ConfigError("ClockMapConfig.settle_s must be >= 0")


ObserveResult = Literal["ok", "anchored", "suspect", "reanchored"]


def lower_hull(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the lower convex hull of points sorted by increasing ``x``."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def envelope_line(
    x: NDArray[np.float64], y: NDArray[np.float64], fallback_slope: float, max_slope: float
) -> tuple[float, float]:
    """``(intercept, slope)`` of the line under all points ``(x, y)`` (sorted by x) that
    minimises the summed vertical distance to them (the supporting line of the lower hull
    at the mean x); slope clipped to ``±max_slope``."""
    if len(x) == 1:
        return float(y[0] - fallback_slope * x[0]), fallback_slope
    hull = lower_hull(x.tolist(), y.tolist())
    xm = float(np.mean(x))
    slope = fallback_slope
    for a, b in itertools.pairwise(hull):
        if x[a] <= xm <= x[b] and x[b] > x[a]:
            slope = float((y[b] - y[a]) / (x[b] - x[a]))
            break
    slope = min(max_slope, max(-max_slope, slope))
    intercept = float(np.min(y - slope * x))
    return intercept, slope


def floor_slope(
    x: NDArray[np.float64], y: NDArray[np.float64], fallback_slope: float, max_slope: float
) -> float:
    """Slope of the delay floor through near-minimum points ``(x, y)`` sorted by x.

    A Theil-Sen-type estimator over half-window pairs: point *i* of the older half is
    paired with point *i + n/2*, and the median of those slopes is taken.  The floor points
    scatter one-sidedly above the true line, but the difference of two such scatters is
    symmetric, so the median is unbiased; bins in which every frame was late and a lone far
    point (the first frame after a long reconnect) are outvoted; every pair spans about half
    the window, so the baseline is long.  O(n).  Clipped to ``±max_slope``;
    ``fallback_slope`` with fewer than 4 points."""
    m = len(x) // 2
    if m < 2:
        return fallback_slope
    dx = x[m : 2 * m] - x[:m]
    dy = y[m : 2 * m] - y[:m]
    ok = dx > 0
    if not ok.any():
        return fallback_slope
    slope = float(np.median(dy[ok] / dx[ok]))
    return min(max_slope, max(-max_slope, slope))


@dataclass(frozen=True, slots=True)
class ClockMapping:
    """A frozen sensor -> host mapping: ``host = t + offset_s + drift * (t - sensor0_s)``."""

    sensor0_s: float
    offset_s: float
    drift: float

    def to_host(self, t_sensor_s: ArrayLike) -> NDArray[np.float64]:
        """Host times (s) of sensor times ``t_sensor_s`` (any shape)."""
        t = np.asarray(t_sensor_s, dtype=np.float64)
        result: NDArray[np.float64] = t + self.offset_s + self.drift * (t - self.sensor0_s)
        return result


class SensorClockMapper:
    """Maps sensor-clock seconds to host seconds (see the module docstring)."""

    def __init__(self, config: ClockMapConfig | None = None) -> None:
        self.config = config or ClockMapConfig()
        self.anchors = 0
        self.drift = 0.0  # host seconds per sensor second - 1
        self._drift_span = 0.0  # sensor-time span of the data the drift was fitted on, s
        self._sensor0 = 0.0
        self._d0 = 0.0
        self._bins: deque[tuple[int, float, float]] = deque()  # (bin id, x, d) minima
        self._intercept = 0.0
        self._anchored = False
        self._frames = 0
        self._x_first = 0.0
        self._x_last = 0.0
        self._suspects: list[tuple[float, float]] = []

    # -- state ----------------------------------------------------------------------

    @property
    def anchored(self) -> bool:
        return self._anchored

    @property
    def ready(self) -> bool:
        """Anchored, settled (enough frames and time since the anchor, a drift estimate if
        ``wait_for_drift``) and no jump pending."""
        c = self.config
        return (
            self._anchored
            and not self._suspects
            and self._frames >= c.settle_frames
            and self._x_last - self._x_first >= c.settle_s
            and (self._drift_span > 0 or not c.wait_for_drift)
        )

    @property
    def suspect(self) -> bool:
        return bool(self._suspects)

    @property
    def offset_s(self) -> float:
        """host - sensor at the anchor's sensor time, s (includes the fitted intercept)."""
        return self._d0 + self._intercept

    def reset(self) -> None:
        """Drop the mapping (the sensor clock is known to have restarted).  The drift
        estimate is kept: it belongs to the sensor's oscillator, not to its clock value."""
        self._anchored = False
        self._bins.clear()
        self._suspects.clear()
        self._frames = 0

    # -- updates --------------------------------------------------------------------

    def observe(self, t_sensor_s: float, t_host_s: float) -> ObserveResult:
        """Add one frame: its sensor time and the host time it arrived at."""
        if not (math.isfinite(t_sensor_s) and math.isfinite(t_host_s)):
            raise ConfigError("clock observations must be finite")
        if not self._anchored:
            self._anchor([(t_sensor_s, t_host_s)])
            return "anchored"
        x = t_sensor_s - self._sensor0
        d = t_host_s - t_sensor_s - self._d0
        residual = d - (self._intercept + self.drift * x)
        c = self.config
        if residual < -c.negative_tolerance_s:
            self._anchor([(t_sensor_s, t_host_s)])
            return "reanchored"
        if residual > c.jump_threshold_s:
            self._suspects.append((t_sensor_s, t_host_s))
            ds = [h - s for s, h in self._suspects]
            if max(ds) - min(ds) > c.jump_threshold_s:
                self._suspects = self._suspects[-1:]
            elif len(self._suspects) >= c.confirm_frames and self._suspects_paced():
                self._anchor(self._suspects)
                return "reanchored"
            return "suspect"
        self._suspects.clear()
        self._add(x, d)
        return "ok"

    def _suspects_paced(self) -> bool:
        """The late frames arrived spread out as they were sampled (a clock that jumped
        back) rather than in one burst (a host or link stall delivering a backlog: frames
        late by less and less, which must not move the mapping)."""
        (s0, h0), (s1, h1) = self._suspects[0], self._suspects[-1]
        return s1 > s0 and h1 - h0 >= 0.5 * (s1 - s0)

    def _anchor(self, points: list[tuple[float, float]]) -> None:
        self.anchors += 1
        self._anchored = True
        self._bins.clear()
        self._suspects = []
        self._sensor0 = points[0][0]
        self._d0 = points[0][1] - points[0][0]
        self._intercept = 0.0
        self._frames = 0
        self._x_first = 0.0
        self._x_last = 0.0
        for s, h in points:
            self._add(s - self._sensor0, h - s - self._d0)

    def _add(self, x: float, d: float) -> None:
        c = self.config
        self._frames += 1
        self._x_first = min(self._x_first, x)
        self._x_last = max(self._x_last, x)
        b = math.floor(x / c.bin_s)
        new_bin = False
        if self._bins and self._bins[-1][0] == b:
            if d >= self._bins[-1][2]:
                return  # not a new minimum: the envelope is unchanged
            self._bins[-1] = (b, x, d)
        elif self._bins and b < self._bins[-1][0]:
            # out-of-order frame: merge into its bin (rare; keep the structure sorted)
            items = [*self._bins, (b, x, d)]
            merged: dict[int, tuple[int, float, float]] = {}
            for item in sorted(items):
                if item[0] not in merged or item[2] < merged[item[0]][2]:
                    merged[item[0]] = item
            self._bins = deque(merged[k] for k in sorted(merged))
        else:
            self._bins.append((b, x, d))
            new_bin = True
        # The window counts bins, not elapsed time: across a reconnect gap the older bins
        # are kept, so the drift keeps its long baseline while the clock continues.
        max_bins = max(2, round(c.window_s / c.bin_s))
        while len(self._bins) > max_bins:
            self._bins.popleft()
        self._fit(new_bin)

    def _fit(self, new_bin: bool) -> None:
        c = self.config
        xs = np.fromiter((p[1] for p in self._bins), dtype=np.float64, count=len(self._bins))
        ds = np.fromiter((p[2] for p in self._bins), dtype=np.float64, count=len(self._bins))
        span = float(xs[-1] - xs[0])
        # A drift estimate is only replaced by one from at least as long a baseline (so a
        # re-anchored clock keeps the oscillator's well-known drift until new data is as
        # good), but the window being full (span ~ window_s) always counts as as long.
        long_enough = span >= min(self._drift_span, 0.9 * c.window_s)
        if new_bin and len(xs) >= 4 and span >= c.min_span_for_drift_s and long_enough:
            _, self.drift = envelope_line(xs, ds, self.drift, c.max_drift_ppm * 1e-6)
            self._drift_span = span
        self._intercept = float(np.min(ds - self.drift * xs))

    # -- mapping --------------------------------------------------------------------

    def snapshot(self) -> ClockMapping:
        """The current mapping, frozen (raises :class:`ConfigError` before any anchor)."""
        if not self._anchored:
            raise ConfigError("the clock mapping has no anchor yet")
        return ClockMapping(self._sensor0, self._d0 + self._intercept, self.drift)

    def to_host(self, t_sensor_s: ArrayLike) -> NDArray[np.float64]:
        """Host times (s) of sensor times ``t_sensor_s`` (any shape), current mapping."""
        return self.snapshot().to_host(t_sensor_s)
