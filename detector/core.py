"""The streaming jerk detector.

Pipeline per gap-free segment (vectorised per chunk, filter state carried across chunks):

0. Streams slower than ``analysis_rate_hz`` are interpolated by an integer factor
   (:class:`~detector.interp.StreamInterpolator`); all below runs at ``work_hz``.
1. ``acc`` (n, 3) g -> Butterworth band-pass (``sosfilt`` with ``zi``) -> magnitude ``env``
   (n,) g: dynamic acceleration without gravity, breathing or slow drift.
2. Noise floor = median of the last ``noise_history_s`` per-second medians of ``env``;
   threshold = max(``min_threshold_g``, ``threshold_factor`` x floor).
3. Supra-threshold runs closer than ``merge_gap_s`` form a *burst*.  A burst is analysed once
   the longer of ``post_context_s`` and ``settle_window_s`` of signal after it has arrived (or
   its segment ended), on the raw signal:
   baseline posture, onset by tangent extrapolation of the rising edge, peak deviation,
   lobe width, rise time, quietness before and after, neighbouring bursts, posture change,
   clipping.  What passes is a jerk.
4. Jerks are held until their series (``series_gap_s``) and kind (hypnic or myoclonic, from
   :class:`~detector.sleep.SleepEstimator`) are final, then returned in onset order.

Gaps: a time step longer than ``max_bridge_s`` (or rows with NaN) is a gap.  Up to
``max_fill_s`` it is filled by linear interpolation so the filters run on (filled signal never
holds a jerk's onset or most of its lobe).  A longer gap ends the segment: the filters restart
from the first sample of the next segment (steady state, so no step transient), and a burst
needs ``min_pre_s``/``min_post_s`` of in-segment signal around it, so nothing is reported on
a gap edge.  Everything depends only on the samples, never on how they were chunked: feeding
a night whole or sample by sample yields identical events.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector import _features as _k
from detector.activity import at_rest, movement_context
from detector.config import DetectorConfig
from detector.episodes import EpisodeDetector, EpisodeEvent
from detector.errors import ConfigError, InputError
from detector.events import JerkEvent, JerkKind, JerkState
from detector.filters import butter_sos, sosfilt_zi
from detector.interp import StreamInterpolator
from detector.negative import negative_lapse
from detector.sleep import SleepEstimator, SleepPeriod, subtract_periods
from detector.sleepwindow import SleepWindow, main_sleep_window
from detector.wear import WearEstimator

FloatArray = npt.NDArray[np.float64]

_RAIL_MIN_G = 1.5  # identical repeated samples beyond this are a saturated rail
_NEG_PRE_S = 1.2  # a lapse is judged against the posture up to 1.2 s before its burst
# Samples per internal processing block: the per-block Python work (~0.25 ms) took a fifth
# of a quiet night at 8192; at 32768 a block's (n, 3) arrays (0.8 MB) still sit in cache.
_BLOCK_N = 32768
#: g; a sample with a larger value is corrupt (wearable accelerometers saturate at 8-400 g).
MAX_ABS_ACC_G = 1000.0
#: s; sample times beyond this are not times (s since the epoch are ~1.8e9 today).
MAX_ABS_TIME_S = 1e11
_NO_SAMPLE = np.zeros(3)  # the previous sample when there is none (fill_gaps)
_ONSET_LEAD_S = 0.5  # s: an onset never precedes its burst's first sample by more
# Rejected bursts that were real motion (they count as movement for the sleep estimate);
# the other reasons (small, spike, gap_edge, duplicate, no_onset) are noise or artefacts.
_MOVEMENT_REASONS = frozenset(
    {
        "long_movement",
        "wide_lobe",
        "slow_rise",
        "smooth",
        "posture_change",
        "busy_context",
        "rhythmic",
        "long_event",
        "clipping",
        "settling",
        "gradual_start",
        "moving_before",
        "no_return",
        "turn_start",
        "restless",
        "walking",
        "activity",
        "episode",
    }
)


def _is_train(intervals_s: FloatArray, min_interval_s: float) -> bool:
    """Start-to-start intervals (s) of a jerk train, not of a tremor or scratching rhythm:
    typically at least ``min_interval_s`` apart (median) and none closer than 70 % of it
    (clusters are irregular, 0.3-3 s; scratching and tremor beat at 3-12 Hz)."""
    if not intervals_s.size:
        return False
    return bool(
        np.median(intervals_s) >= min_interval_s and np.min(intervals_s) >= 0.7 * min_interval_s
    )


@dataclass(slots=True)
class _Burst:
    t_first: float  # s, first supra-threshold sample
    t_last: float  # s, last one so far
    last: int  # absolute sample index of t_last (for the merge gap)
    seg: int  # segment id
    peak_env: float  # g
    previewed: int = 0  # times the live preview has judged it
    candidate: JerkEvent | None = None  # what the preview published, if anything
    in_train: bool = False  # split from a train of transients (see _split_train)


@dataclass(slots=True)
class _Pending:
    """A jerk whose verdict may still change: a rather smooth transient counts only if no
    movement burst starts within ``post_context_s`` after its burst ends (``t_last``)."""

    event: JerkEvent
    t_first: float
    t_last: float
    ambiguous: bool
    features: dict[str, float]
    cancelled: bool = False
    published: bool = False  # handed out by pop_provisional()
    fallback: JerkEvent | None = None  # see _Verdict


@dataclass(slots=True)
class _Verdict:
    """What the rules say about one burst: ``reason`` (``"jerk"`` or why not), its
    features, and for a jerk the event, whether it is rather smooth and its lobe end (s)."""

    reason: str
    feat: dict[str, float]
    event: JerkEvent | None = None
    rather_smooth: bool = False
    t_end: float = math.nan
    fallback: JerkEvent | None = None  # a negative's reading as a positive jerk, if any
    shape_reason: str = "jerk"  # a negative's verdict under the positive jerk's rules


@dataclass(slots=True)
class _Held:
    event: JerkEvent
    series: int | None
    series_final: bool
    fallback: JerkEvent | None = None  # see _Verdict
    published: bool = False  # a lapse's point was handed out (live preview)


class _NoiseFloor:
    """Per-block medians of the envelope and their running median (chunk-invariant)."""

    def __init__(self, block_n: int, history_blocks: int, initial_g: float) -> None:
        self._block_n = block_n
        self._history = history_blocks
        self._partial: FloatArray = np.empty(0)
        self._meds: FloatArray = np.empty(0)
        self._floor = initial_g

    def update(self, env: FloatArray) -> FloatArray:
        """Return (n,) the floor in force at each sample of ``env`` (floors change only at
        block boundaries counted in samples, so any chunking gives the same values)."""
        n, bn, h = env.size, self._block_n, self._history
        need = bn - self._partial.size
        if n < need:
            self._partial = np.concatenate((self._partial, env))
            return np.full(n, self._floor)
        # Block medians and their running median, compiled (detector/_features.pyx).
        out, self._partial, self._meds, self._floor = _k.noise_floors(
            env, self._partial, self._meds, self._floor, bn, h
        )
        return out


class JerkDetector:
    """Streaming myoclonic-jerk detector for one wrist accelerometer.

    Args:
        rate_hz: nominal sample rate, Hz (25-200 Hz tested).  Timestamps may be irregular;
            the filters assume this rate.  Below ``config.analysis_rate_hz`` the stream is
            interpolated first; ``work_hz`` is the rate everything then runs at.
        config: :class:`DetectorConfig`; defaults are physiological, not tuned to a dataset.
        provisional: also hand out jerks before their kind is final (:meth:`pop_provisional`,
            :meth:`pop_withdrawn`; the live run publishes them at once).
        preview_s: with ``provisional``, judge each burst this long (s) after it ends from
            the signal seen so far, and hand out a jerk at once as a candidate (withdrawn
            if the final verdict, which needs ``settle_window_s`` more, disagrees); None:
            hand out only jerks certain to count, seconds later, never withdrawn.

    Feed with :meth:`process` in chunks of any size, end with :meth:`flush`.  Pure: no I/O,
    no wall clock; all state lives in the instance.
    """

    def __init__(
        self,
        rate_hz: float,
        config: DetectorConfig | None = None,
        *,
        provisional: bool = False,
        preview_s: float | None = None,
    ) -> None:
        if preview_s is not None and not (
            isinstance(preview_s, int | float) and math.isfinite(preview_s) and preview_s > 0
        ):
            raise ConfigError(f"preview_s must be a positive number (s) or None, got {preview_s!r}")
        if not (isinstance(rate_hz, int | float) and math.isfinite(rate_hz) and rate_hz > 0):
            raise ConfigError(f"rate_hz must be a positive number, got {rate_hz!r}")
        if rate_hz < 10:
            raise ConfigError(f"rate_hz must be >= 10 Hz to resolve jerks, got {rate_hz}")
        cfg = config if config is not None else DetectorConfig()
        self.rate_hz = float(rate_hz)
        self.config = cfg
        high = min(cfg.band_high_hz, 0.45 * self.rate_hz)
        if high <= cfg.band_low_hz:
            raise ConfigError(f"band_low_hz {cfg.band_low_hz} is above what {rate_hz} Hz can carry")
        # Slower streams are interpolated to about ``analysis_rate_hz`` (integer factor) so
        # that a jerk's shape is measured at ~10 ms resolution; everything below works at
        # ``work_hz``.  The pass bands stay within what the input rate carries.
        up = max(1, round(cfg.analysis_rate_hz / self.rate_hz))
        self.work_hz = self.rate_hz * up
        self._interp = StreamInterpolator(up) if up > 1 else None
        # Designed as scipy.signal.butter(..., output="sos") / sosfilt_zi would, without
        # importing SciPy (detector/filters.py).
        self._sos = butter_sos(
            cfg.filter_order, [cfg.band_low_hz, high], "bandpass", fs=self.work_hz
        )
        self._zi_unit = sosfilt_zi(self._sos)  # (sections, 2)
        self._sos_hf = butter_sos(
            2, min(cfg.impulse_hz, 0.4 * self.rate_hz), "highpass", fs=self.work_hz
        )
        self._zi_hf = sosfilt_zi(self._sos_hf)
        self._bridge_s = cfg.bridge_s(self.rate_hz)
        block_n = max(1, round(cfg.noise_block_s * self.work_hz))
        self._noise = _NoiseFloor(
            block_n, max(1, round(cfg.noise_history_s / cfg.noise_block_s)), 0.01
        )
        self._merge_n = max(1, round(cfg.merge_gap_s * self.work_hz))
        # A burst is analysed once this much signal after it has arrived.
        self._look_ahead_s = max(cfg.post_context_s, cfg.settle_window_s)
        self.sleep = SleepEstimator(self.work_hz, cfg)
        # Context beside the jerk rules (separate modules): wear, episodes, wake activity.
        self.wear = WearEstimator(self.rate_hz, cfg.wear_params())
        self.episodes = EpisodeDetector(self.work_hz, cfg.episode_params())
        self._activity = cfg.activity_params()
        self._negative = cfg.negative_params()
        prm = np.empty(_k.N_PARAMS)
        prm[_k.P_NEIGHBOUR_WINDOW] = cfg.neighbour_window_s
        prm[_k.P_MAX_BURST] = cfg.max_burst_s
        prm[_k.P_PRE_CONTEXT] = cfg.pre_context_s
        prm[_k.P_POST_CONTEXT] = cfg.post_context_s
        prm[_k.P_MAX_LOBE] = cfg.max_lobe_s
        prm[_k.P_SETTLE_WINDOW] = cfg.settle_window_s
        prm[_k.P_LOOK_AHEAD] = self._look_ahead_s
        prm[_k.P_LOOK_BACK] = max(cfg.pre_context_s + 0.5, cfg.settle_window_s + 0.1)
        prm[_k.P_MIN_THRESHOLD] = cfg.min_threshold_g
        prm[_k.P_THRESHOLD_FACTOR] = cfg.threshold_factor
        prm[_k.P_RATE] = self.work_hz
        prm[_k.P_CLIP_G] = math.nan if cfg.clip_g is None else cfg.clip_g
        prm[_k.P_RAIL_MIN_G] = _RAIL_MIN_G
        prm[_k.P_HOP_N] = max(1, round(0.15 * self.work_hz))  # biphasic hop, samples
        prm[_k.P_AMBIGUOUS_IMPULSE] = cfg.ambiguous_impulse_ratio
        prm[_k.P_ACT_WINDOW] = self._activity.window_s
        prm[_k.P_ACT_ENV] = self._activity.env_g
        prm[_k.P_ACT_MIN_FRACTION] = self._activity.min_fraction
        self._kparams = prm

        # Stream state.
        self._last_t: float | None = None  # latest input sample
        self._last_acc: FloatArray | None = None
        self._zi: FloatArray | None = None
        self._seg = 0
        self._seg_open = False
        # Ring buffer of recent samples (absolute index of element 0 is _base).
        self._base = 0
        self._bt: FloatArray = np.empty(0)
        self._bacc: FloatArray = np.empty((0, 3))
        self._benv: FloatArray = np.empty(0)
        self._bfloor: FloatArray = np.empty(0)
        self._bfill: npt.NDArray[np.bool_] = np.empty(0, dtype=bool)  # interpolated samples
        self._seg_t0: dict[int, float] = {}  # segment id -> time of its first sample
        self._seg_t1: dict[int, float] = {}  # closed segment id -> time of its last sample
        # Bursts: the open one, closed ones awaiting analysis, and recent (t_first, t_last)
        # of every burst for the neighbour count (t_last = inf while open).
        self._open: _Burst | None = None
        self._closed: deque[_Burst] = deque()
        self._recent: deque[tuple[float, float]] = deque()
        # _recent as a (k, 2) array for the kernels, built once per change rather than per
        # burst (None: stale).
        self._recent_arr: FloatArray | None = None
        # Events.
        self._held: list[_Held] = []
        self._series_next = 1
        self._chain_last_onset: float | None = None
        self._chain_id: int | None = None
        self._chain_pending: list[_Held] = []
        self._complete_until = -math.inf
        self._last_jerk_end = -math.inf
        self._last_sharp_jerk_end = -math.inf  # of the last clearly impulsive one
        self._last_move_end = -math.inf  # t_last of the latest burst rejected as movement
        self._pending: deque[_Pending] = deque()
        self._want_provisional = provisional
        self._provisional: list[JerkEvent] = []  # decided jerks awaiting pop_provisional()
        self._withdrawn: list[JerkEvent] = []  # candidates awaiting pop_withdrawn()
        self._preview_s = preview_s if provisional else None
        # Live points by onset: how many candidates and accepted jerks stand on each (two
        # bursts can find the same lobe); a point is withdrawn only when none is left.
        self._claims: dict[float, int] = {}
        self.rejected: dict[str, int] = {}
        # Set to a list to record (t_first, t_last, reason) of every analysed burst: the
        # answer to "why was this not counted?".  Off by default (it grows all night).
        self.trace: list[tuple[float, float, str]] | None = None
        self._cur: tuple[float, float] = (0.0, 0.0)
        self._feat: dict[str, float] = {}
        self.trace_features: list[dict[str, float]] = []
        self.samples_seen = 0

    # ================================================================== public
    def process(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> list[JerkEvent]:
        """Advance by one chunk and return the jerks that became final, in onset order.

        Args:
            t: (n,) sample times, s, strictly increasing (also across chunks).
            acc: (n, 3) acceleration, g.  Rows with NaN/inf, or with a value beyond
                :data:`MAX_ABS_ACC_G` (no accelerometer reports that: a corrupt sample or
                a unit error), are treated as missing samples.

        Raises:
            InputError: wrong shapes or types, non-finite, out-of-range (beyond
                :data:`MAX_ABS_TIME_S`) or non-increasing times.
        """
        try:
            t_arr = np.ascontiguousarray(t, dtype=np.float64).reshape(-1)
            acc_arr = np.ascontiguousarray(acc, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"t and acc must be numbers (s, g): {exc}") from None
        n = t_arr.size
        if acc_arr.shape != (n, 3):
            raise InputError(f"acc must have shape (n, 3) = ({n}, 3), got {acc_arr.shape}")
        if n == 0:
            return []
        # One compiled pass decides the common case (times in range and increasing, every
        # value clean) and finds the largest step; the checks below only when it fails.
        t_ok, clean, max_step = _k.scan_chunk(t_arr, acc_arr, MAX_ABS_TIME_S, MAX_ABS_ACC_G)
        if not t_ok:
            if not np.isfinite(t_arr).all():
                i = int(np.flatnonzero(~np.isfinite(t_arr))[0])
                raise InputError(f"time is not finite at sample {i} of the chunk: {t_arr[i]!r}")
            if not (np.abs(t_arr) <= MAX_ABS_TIME_S).all():
                i = int(np.flatnonzero(np.abs(t_arr) > MAX_ABS_TIME_S)[0])
                raise InputError(
                    f"time {t_arr[i]!r} s at sample {i} of the chunk is beyond "
                    f"+-{MAX_ABS_TIME_S:g} s"
                )
            if not (t_arr[1:] > t_arr[:-1]).all():  # (a comparison: cheaper than diff, here)
                bad = np.flatnonzero(np.diff(t_arr) <= 0)
                if bad.size:
                    i = int(bad[0]) + 1
                    raise InputError(
                        f"time does not increase at sample {i} of the chunk: "
                        f"{t_arr[i]!r} after {t_arr[i - 1]!r}"
                    )
        if self._last_t is not None and t_arr[0] <= self._last_t:
            raise InputError(
                f"time does not increase across chunks: {t_arr[0]!r} after {self._last_t!r}"
            )
        if not clean:
            with np.errstate(invalid="ignore"):
                ok = (np.abs(acc_arr) <= MAX_ABS_ACC_G).all(axis=1)  # False for NaN too
            t_arr, acc_arr = t_arr[ok], acc_arr[ok]
            if t_arr.size == 0:
                return []
            max_step = math.inf  # (the steps across dropped rows are not known)
        self.samples_seen += int(t_arr.size)
        self.wear.update(t_arr, acc_arr)

        out: list[JerkEvent] = []
        # Large inputs go through in blocks: the working set stays in cache and the buffer
        # small; the result does not depend on it (see the chunk-invariance tests).
        # Without a step beyond the bridge (the usual case), no gap inside the chunk: the
        # steps are not needed.
        gaps = max_step > self._bridge_s
        for a in range(0, t_arr.size, _BLOCK_N):
            b = a + _BLOCK_N
            dt = np.diff(t_arr[a:b]) if gaps else None
            out += self._process_block(t_arr[a:b], acc_arr[a:b], dt)
        return out

    def _process_block(
        self, t_arr: FloatArray, acc_arr: FloatArray, dt: FloatArray | None
    ) -> list[JerkEvent]:
        prev = self._last_t
        # One set of time steps (``dt``, (n - 1,) s; None: none beyond the bridge) serves
        # gap filling and the segment cuts.
        t_arr, acc_arr, filled, dt = self._fill_short_gaps(t_arr, acc_arr, dt)
        cuts = [] if dt is None else (np.flatnonzero(dt > self._bridge_s) + 1).tolist()
        bounds = [0, *cuts, t_arr.size]
        for j, (a, b) in enumerate(itertools.pairwise(bounds)):
            new_seg = (
                j > 0 or prev is None or not self._seg_open or (t_arr[0] - prev > self._bridge_s)
            )
            if new_seg:
                self._end_segment()
                self._start_segment(float(t_arr[a]), acc_arr[a])
            if self._interp is None:
                self._ingest(t_arr[a:b], acc_arr[a:b], filled[a:b])
            else:
                self._ingest(*self._interp.push(t_arr[a:b], acc_arr[a:b], filled[a:b]))
        self._last_t = float(t_arr[-1])
        self._last_acc = acc_arr[-1].copy()
        self._analyse_ready(final=False)
        return self._release(final=False)

    def flush(self) -> list[JerkEvent]:
        """End of stream: decide everything still pending and return it.

        The detector may be fed again afterwards; that starts a new segment.
        """
        self._end_segment()
        self._analyse_ready(final=True)
        self.sleep.finish()
        self.episodes.finish()
        self.wear.finish()
        return self._release(final=True)

    @property
    def watermark(self) -> float:
        """Every jerk with onset before this time (s) has already been returned."""
        w = self._complete_until
        if self._held:
            w = min(w, self._held[0].event.onset)
        return w

    @property
    def sleep_onset(self) -> float | None:
        """First estimated sleep onset, s, or None (yet)."""
        return self.sleep.sleep_onset

    def sleep_periods(self) -> list[SleepPeriod]:
        """Estimated sleep periods so far; time the sensor was not worn is never sleep."""
        off = [(p.start, p.end) for p in self.wear.periods()]
        return subtract_periods(self.sleep.periods(), off)

    def main_sleep_window(self) -> SleepWindow | None:
        """The night's main sleep window (HDCZA, :mod:`detector.sleepwindow`) from what has
        been seen so far; meant for the end of a recording."""
        z = self.sleep.z_angles
        if not z:
            return None
        arr = np.array(z)
        return main_sleep_window(
            arr[:, 0],
            arr[:, 1],
            self.config.epoch_s,
            [(p.start, p.end) for p in self.wear.periods()],
            self.config.spt_min_block_s,
            self.config.spt_max_gap_s,
        )

    def pop_provisional(self) -> list[JerkEvent]:
        """Jerks counted since the last call whose kind, series or state may still change.

        Empty unless the detector was made with ``provisional=True``.  Each jerk comes here
        once, as soon as it is certain to be counted (a rather smooth one after the bursts
        that could cancel it as restless were judged), and later once more from
        :meth:`process`/:meth:`flush` with its final kind, series and state; the onset (and
        every measured value) is the same.  The provisional ``kind`` is ``myoclonic`` unless
        the sleep estimate already makes it hypnic (a guess from what has been seen, so it
        may depend on chunking; the jerks and their values do not); ``series`` is None;
        ``state`` may be ``unknown``.  Order: analysis order (close to onset order).
        """
        out, self._provisional = self._provisional, []
        return out

    def pop_withdrawn(self) -> list[JerkEvent]:
        """Candidates handed out by :meth:`pop_provisional` (with ``preview_s``) that turned
        out not to count, since the last call: the live run overwrites their points.  Pop
        after :meth:`pop_provisional` (a candidate can be handed out and withdrawn in one
        chunk).  Empty without ``preview_s``."""
        out, self._withdrawn = self._withdrawn, []
        return out

    def pop_episodes(self) -> list[EpisodeEvent]:
        """Convulsive episodes that have ended since the last call (each returned once)."""
        return self.episodes.pop()

    def _quiet_until(self) -> float:
        """Sample time (s) before which more gap-free samples cannot make :meth:`process`
        return a jerk, for :class:`~detector.bank.JerkDetectorBank`, which holds such samples
        back and feeds them later in one chunk (same events: the detector is
        chunk-invariant).  A burst among them is analysed ``look_ahead`` after its first
        sample at the earliest; the bank bounds that itself.  -inf: feed at once (the
        provisional kind guess depends on when the previous call was)."""
        if self._want_provisional or not self._seg_open or not self._bt.size:
            return -math.inf
        look_ahead = self._look_ahead_s
        due = math.inf
        if self._open is not None:  # (a train split from it ends no earlier than it starts)
            due = self._open.t_first + look_ahead
        for b in self._closed:
            due = min(due, b.t_last + look_ahead)
        if self._pending:
            due = min(due, self._pending[0].t_last + self.config.post_context_s)
        last = float(self._bt[-1])  # last ingested sample (the interpolator lags the input)
        if self._held:
            # Held jerks wait for their series to close and for the sleep estimate, which
            # changes only when an epoch completes.
            ep = self.config.epoch_s
            due = min(due, (math.floor(last / ep) + 1) * ep)
            if self._chain_last_onset is not None and not self._held[-1].series_final:
                # (once final, a series flag stays so: only the epochs are left to wait for)
                gap = self.config.series_gap_s
                due = min(due, self._chain_last_onset + gap + _ONSET_LEAD_S)
        if self.episodes.in_run:
            w = self.config.episode_window_s
            due = min(due, (math.floor(last / w) + 1) * w)
        return due

    # ================================================================== ingest
    def _start_segment(self, t0: float, first_sample: FloatArray) -> None:
        self._seg += 1
        self._seg_open = True
        self._seg_t0[self._seg] = t0
        # Steady state for the first sample: the band-pass starts at rest, no step response.
        self._zi = self._zi_unit[:, :, None] * first_sample[None, None, :]
        if self._interp is not None:
            self._interp.start(first_sample)

    def _end_segment(self) -> None:
        if not self._seg_open:
            return
        if self._interp is not None:
            self._ingest(*self._interp.finish())
        self._seg_open = False
        self._seg_t1[self._seg] = float(self._bt[-1])
        self._close_open()

    def _close_open(self) -> None:
        ob = self._open
        if ob is not None:
            self._recent_arr = None
            self._recent.pop()
            for b in self._split_train(ob):
                self._closed.append(b)
                self._recent.append((b.t_first, b.t_last))
            self._open = None

    def _split_train(self, ob: _Burst) -> list[_Burst]:
        """Split a burst that is a train of distinct transients (a jerk cluster whose
        ringing bridged the merge gap) into its transients; anything else stays whole.

        Transients are the runs above ``train_split_fraction`` of the burst's peak
        envelope; the burst is a train when there are several, each at most
        ``train_max_transient_s`` long, each starting at least ``min_train_interval_s``
        after the one before, and the envelope between two falls below that fraction of
        the smaller one's peak.  A turn or a reach (one broad swell) and scratching or
        tremor (strokes closer than 0.35 s) stay one burst.
        """
        cfg = self.config
        if ob.t_last - ob.t_first < 2.0 * cfg.min_train_interval_s:
            return [ob]
        i0 = int(np.searchsorted(self._bt, ob.t_first, "left"))
        i1 = int(np.searchsorted(self._bt, ob.t_last, "right"))
        if i0 >= i1 or self._bt[i0] != ob.t_first:
            return [ob]  # (trimmed from the buffer: too long to be a train anyway)
        env = self._benv[i0:i1]
        hi = env > cfg.train_split_fraction * ob.peak_env
        idx = np.flatnonzero(hi)
        # Runs closer than the merge gap are lobes of one transient (the magnitude of a
        # ringing limb dips at every zero crossing).
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > self._merge_n) + 1)
        # A lower run that starts too soon after the one before to be a transient of its
        # own (< 70 % of the train interval) is that one's ringing, a later, weaker lobe.
        # (The magnitude of a limb ringing along one axis falls to zero twice a period.)
        merged = [runs[0]]
        for r in runs[1:]:
            prev = merged[-1]
            if (
                r[0] - prev[0] < 0.7 * cfg.min_train_interval_s * self.work_hz
                and env[r[0] : r[-1] + 1].max() < env[prev[0] : prev[-1] + 1].max()
            ):
                merged[-1] = np.concatenate((prev, r))
            else:
                merged.append(r)
        runs = merged
        if len(runs) < 2:
            return [ob]
        t = self._bt[i0:i1]
        starts = np.array([t[r[0]] for r in runs])
        ends = np.array([t[r[-1]] for r in runs])
        peaks = np.array([float(env[r[0] : r[-1] + 1].max()) for r in runs])
        troughs = np.array(
            [float(env[a[-1] : b[0] + 1].min()) for a, b in itertools.pairwise(runs)]
        )
        if (
            np.any(ends - starts > cfg.train_max_transient_s)
            or not _is_train(np.diff(starts), cfg.min_train_interval_s)
            or np.any(troughs > cfg.train_split_fraction * np.minimum(peaks[:-1], peaks[1:]))
        ):
            return [ob]
        # Each transient spans from the trough before it to the trough after it (its own
        # rising edge and ringing), within the original burst.
        cut = (
            [i0]
            + [
                i0 + a[-1] + int(np.argmin(env[a[-1] : b[0] + 1]))
                for a, b in itertools.pairwise(runs)
            ]
            + [i1]
        )
        out = []
        for k in range(len(runs)):
            a = cut[k] if k == 0 else cut[k] + 1  # (the trough itself belongs to neither)
            b = cut[k + 1] - 1
            out.append(
                _Burst(
                    float(self._bt[a]),
                    float(self._bt[b]),
                    self._base + b,
                    ob.seg,
                    float(self._benv[a : b + 1].max()),
                    in_train=True,
                )
            )
        return out

    def _fill_short_gaps(
        self, t: FloatArray, acc: FloatArray, dt: FloatArray | None
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_], FloatArray | None]:
        """Fill gaps of up to ``max_fill_s`` (lost BLE packets) by linear interpolation at the
        nominal rate, so the filters run on instead of restarting.  ``dt`` (n - 1,) s are the
        steps of ``t`` (None: none is beyond the bridge; then None is returned too).
        Returns t (m,), acc (m, 3), a (m,) mask of the filled samples and
        the (m - 1,) steps of the returned t.  Depends only on the two samples around each
        gap, so chunking does not change it."""
        lo, hi = self._bridge_s, self.config.max_fill_s
        # The segment's previous input sample, if the gap may sit just before this chunk.
        prev = (
            (self._last_t, self._last_acc)
            if self._seg_open and self._last_t is not None and self._last_acc is not None
            else None
        )
        lead_fill = prev is not None and lo < float(t[0] - prev[0]) <= hi
        if not (lead_fill or (dt is not None and ((dt > lo) & (dt <= hi)).any())):
            # the usual case: no copies
            return t, acc, np.zeros(t.size, dtype=bool), dt
        # The filled samples and the samples around them in one compiled copy.
        t_out, acc_out, filled = _k.fill_gaps(
            t,
            np.ascontiguousarray(acc),
            prev[0] if prev is not None else 0.0,
            prev[1] if prev is not None else _NO_SAMPLE,
            prev is not None,
            lo,
            hi,
            self.rate_hz,
        )
        return t_out, acc_out, filled, np.diff(t_out)

    def _ingest(self, t: FloatArray, acc: FloatArray, filled: npt.NDArray[np.bool_]) -> None:
        assert self._zi is not None
        if t.size == 0:
            return
        # sosfilt + magnitude in one compiled pass (the state ``_zi`` is updated in place).
        bp, env = _k.bandpass_env(self._sos, self._zi, np.ascontiguousarray(acc))
        floor = self._noise.update(env)
        # Threshold, supra-threshold samples and their groups (bursts or parts of one) in
        # one compiled pass.
        above, groups = _k.supra_runs(
            env, floor, self.config.min_threshold_g, self.config.threshold_factor, self._merge_n
        )
        self.sleep.update(t, acc, env, above)
        self.episodes.update(t, bp)

        start_abs = self._base + self._bt.size
        self._bt = np.concatenate((self._bt, t))
        self._bacc = np.concatenate((self._bacc, acc))
        self._benv = np.concatenate((self._benv, env))
        self._bfloor = np.concatenate((self._bfloor, floor))
        self._bfill = np.concatenate((self._bfill, filled))
        self._track_bursts(groups, above.size, t, start_abs)

    def _track_bursts(
        self, groups: list[tuple[int, int, float]], n: int, t: FloatArray, start_abs: int
    ) -> None:
        """Extend or open bursts with the ``groups`` (first, last, peak envelope) of
        supra-threshold samples of a piece of ``n`` samples at times ``t``."""
        for g0, g1, peak in groups:
            first, last = g0 + start_abs, g1 + start_abs
            ob = self._open
            if ob is not None and first - ob.last <= self._merge_n:
                ob.last, ob.t_last = last, float(t[g1])
                ob.peak_env = max(ob.peak_env, peak)
            else:
                self._close_open()
                self._open = _Burst(float(t[g0]), float(t[g1]), last, self._seg, peak)
                self._recent.append((float(t[g0]), math.inf))
                self._recent_arr = None
        ob = self._open
        if ob is not None and start_abs + n - 1 - ob.last > self._merge_n:
            self._close_open()

    # ================================================================== analysis
    def _analyse_ready(self, final: bool) -> None:
        # What has been ingested (the interpolator holds back its last few input samples).
        last_t = float(self._bt[-1]) if self._bt.size else -math.inf
        while self._closed:
            b = self._closed[0]
            seg_done = b.seg in self._seg_t1
            if not (final or seg_done or last_t >= b.t_last + self._look_ahead_s):
                break
            self._closed.popleft()
            self._analyse(b)
        if self._preview_s is not None and not final:
            self._preview(last_t)
        # Completeness: every jerk with onset before this time has been analysed.  An onset
        # precedes its burst's first supra-threshold sample by well under _ONSET_LEAD_S.
        firsts = [b.t_first for b in self._closed]
        if self._open is not None:
            firsts.append(self._open.t_first)
        analysed = math.inf if final else min([*firsts, last_t])
        self._commit(analysed)
        if final:
            self._complete_until = math.inf
        else:
            self.sleep.advance(analysed)
            pending = self._pending[0].t_first if self._pending else math.inf
            self._complete_until = min(analysed, pending) - _ONSET_LEAD_S
        self._trim()

    def _preview(self, last_t: float) -> None:
        """Judge the bursts that ended ``preview_s`` ago on what has arrived and publish
        the jerks among them as candidates; a burst not judged a jerk then is judged once
        more at twice ``preview_s`` (its lobe end and posture after may not have been
        seen: the post-burst window reaches 0.7 s)."""
        assert self._preview_s is not None
        for b in self._closed:
            if b.previewed >= 2 or b.candidate is not None:
                continue
            if last_t < b.t_last + self._preview_s * (1 + b.previewed):
                continue  # (a later, shorter wait may be due)
            b.previewed += 1
            v = self._judge(b)
            if v.event is not None:
                b.candidate = self._provisional_event(v.event)
                self._claim(b.candidate)
                self._provisional.append(b.candidate)

    def _claim(self, ev: JerkEvent) -> None:
        self._claims[ev.onset] = self._claims.get(ev.onset, 0) + 1

    def _withdraw(self, ev: JerkEvent) -> None:
        """A candidate does not count (any more): withdraw its point unless another jerk
        stands on the same onset."""
        left = self._claims.get(ev.onset, 0) - 1
        if left > 0:
            self._claims[ev.onset] = left
        else:
            self._claims.pop(ev.onset, None)
            self._withdrawn.append(ev)

    def _commit(self, analysed: float) -> None:
        """Pass on pending jerks, in order, once every burst that could overturn them (one
        starting within ``post_context_s`` after) has been analysed (before ``analysed``)."""
        horizon = self.config.post_context_s
        # Published at once where no later verdict can cancel it (only a rather smooth one
        # can become restless), so a provisional jerk is never retracted.
        for p in self._pending:
            # (A lapse of tone is published once its state is known: asleep, it is no lapse.)
            if not (p.published or p.cancelled or p.event.kind == "negative") and (
                not p.ambiguous or analysed > p.t_last + horizon
            ):
                p.published = True
                if self._want_provisional:
                    self._claim(p.event)
                    self._provisional.append(self._provisional_event(p.event))
        while self._pending:
            p = self._pending[0]
            if p.ambiguous and not p.cancelled and analysed <= p.t_last + horizon:
                break
            self._pending.popleft()
            if p.cancelled:
                self.rejected["restless"] = self.rejected.get("restless", 0) + 1
                if p.published and self._want_provisional:
                    self._withdraw(p.event)
            else:
                self._add_jerk(p.event, p.fallback, p.published)
            self._record(p.t_first, p.t_last, "restless" if p.cancelled else "jerk", p.features)

    def _provisional_event(self, ev: JerkEvent) -> JerkEvent:
        """``ev`` with the kind it would have if nothing more were seen (read-only guess)."""
        hypnic = (
            ev.peak_acc_g >= self.config.hypnic_min_peak_g
            and self.sleep.kind_at(ev.onset, False) == "hypnic"
        )
        if ev.kind == "negative":
            return _with(ev, "negative", None, ev.state)
        return _with(ev, "hypnic" if hypnic else "myoclonic", None, ev.state)

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if reason in _MOVEMENT_REASONS:
            self.sleep.note_burst(*self._cur, jerk=False)
            tf, tl = self._cur
            self._last_move_end = max(self._last_move_end, tl)
            # A movement soon after a rather smooth transient: that was restless
            # movement too.
            for p in self._pending:
                if p.ambiguous and p.t_last < tf <= p.t_last + self.config.post_context_s:
                    p.cancelled = True
        self._record(*self._cur, reason, self._feat)

    def _record(self, t_first: float, t_last: float, verdict: str, feat: dict[str, float]) -> None:
        """Keep the verdict on a burst, and its features, when tracing."""
        if self.trace is not None:
            self.trace.append((t_first, t_last, verdict))
            self.trace_features.append(dict(feat))

    def _slow_train(self, tf: float, tl: float) -> bool:
        """Are the bursts around ``tf .. tl`` a train slower than any tremor or scratch?

        Jerk clusters and cortical trains repeat at 1-3 Hz; scratching strokes at 3-7 Hz and
        tremor at 4-12 Hz.  When every burst within ``neighbour_window_s`` starts at least
        ``min_train_interval_s`` after the one before, each is a distinct transient of a
        train, not a beat of a rhythm (walking has its own rule in detector.activity).
        """
        w = self.config.neighbour_window_s
        starts = sorted(f for f, e in self._recent if f <= tl + w and e >= tf - w)
        if tf not in starts:
            starts = sorted([*starts, tf])
        return _is_train(np.diff(starts), self.config.min_train_interval_s)

    def _analyse(self, b: _Burst) -> None:
        v = self._judge(b)
        self._cur = (b.t_first, b.t_last)
        self._feat = v.feat
        cand = b.candidate
        if v.event is None:
            if cand is not None:
                self._withdraw(cand)
            self._reject(v.reason)
            return
        self._last_jerk_end = v.t_end
        if not v.rather_smooth:
            self._last_sharp_jerk_end = v.t_end
        # For the sleep estimate a lapse is what the jerk rules made of the burst: should the
        # limb turn out to lie still, a movement stays a movement.
        self.sleep.note_burst(b.t_first, b.t_last, jerk=v.shape_reason not in _MOVEMENT_REASONS)
        p = _Pending(
            v.event, b.t_first, b.t_last, v.rather_smooth, dict(v.feat), fallback=v.fallback
        )
        if cand is not None:
            if cand.onset == v.event.onset:
                # Its point stands (the provisional event carries the measured values).
                p.published = True
                if _measured(cand) != _measured(v.event):
                    self._provisional.append(self._provisional_event(v.event))  # same point
            else:
                self._withdraw(cand)  # the point moves: published anew from _commit
        self._pending.append(p)

    def _judge(self, b: _Burst) -> _Verdict:
        """The rules' verdict on burst ``b`` from the signal buffered so far (no state
        changes: the final analysis and the live preview share it)."""
        cfg = self.config
        rate = self.work_hz
        tf, tl = b.t_first, b.t_last
        feat: dict[str, float] = {}
        if tl - tf > cfg.max_burst_s:
            return _Verdict("long_movement", feat)
        t_seg_lo = self._seg_t0[b.seg]
        t_seg_hi = self._seg_t1.get(b.seg, math.inf)
        if tf - t_seg_lo < cfg.min_pre_s or t_seg_hi - tl < cfg.min_post_s:
            return _Verdict("gap_edge", feat)
        # The numbers (compiled, see detector/_features.pyx); the rules below judge them.
        rec = self._recent_arr
        if rec is None:
            rec = np.array(self._recent, dtype=np.float64).reshape(len(self._recent), 2)
            rec.flags.writeable = False  # shared by every burst judged until it changes
            self._recent_arr = rec
        stage, f = _k.burst_features(
            self._bt,
            self._bacc,
            self._benv,
            self._bfloor,
            self._bfill.view(np.uint8),
            rec,
            tf,
            tl,
            b.peak_env,
            t_seg_lo,
            t_seg_hi,
            self._kparams,
            self._sos_hf,
            self._zi_hf,
        )
        thr = f[_k.F_THR]

        # One beat of a convulsive episode (detector.episodes) is not a jerk of its own.
        if self.episodes.covers(tf, tl):
            return _Verdict("episode", feat)
        # Inside walking or other voluntary activity, the movement's own transients are not
        # jerks; one far larger than them still is (detector.activity).  The look-back and
        # look-ahead windows (>= 6 s) cover the activity window either side.  The kernel
        # ran the rest test, where most bursts end; the rest only inside movement.
        active = f[_k.F_ACTIVE]
        if active >= self._activity.min_fraction:
            w0, w1 = int(f[_k.F_WIN0]), int(f[_k.F_WIN1])
            mctx = movement_context(
                self._bt[w0:w1],
                self._benv[w0:w1],
                tf,
                tl,
                b.peak_env,
                rate,
                self._activity,
                others=rec,
                fraction=(active, bool(f[_k.F_REACH])),
            )
        else:
            mctx = at_rest(active)
        feat.update(
            active=mctx.active_fraction,
            cadence=mctx.cadence_hz,
            size=mctx.size_ratio,
            step_corr=mctx.step_corr,
        )
        if mctx.state != "rest" and not mctx.counts:
            return _Verdict(mctx.state, feat)
        state: JerkState = "unknown" if mctx.state == "rest" else mctx.state

        # Neighbouring bursts (rhythmic strokes, tremor beats).  Only bursts of comparable
        # size count: the tail of a big jerk's ringing can cross the threshold again and is
        # not a rhythm.  (Peaks are taken inside the window so that the count does not depend
        # on whether a later burst has ended yet.)
        # (A transient split from a train was timed as one by its own rising edge.)
        if (
            f[_k.F_NEIGHBOURS] > cfg.max_neighbours
            and not b.in_train
            and not self._slow_train(tf, tl)
        ):
            return _Verdict("rhythmic", feat)

        # A lapse of tone (negative myoclonus, detector.negative): the fall along gravity and
        # the corrective burst that stops it.  Its fall creeps in, rises slowly and sits in
        # the tremor of a held posture, so the positive jerk's shape rules do not apply to
        # it; what they say is kept for a limb found asleep (which cannot lapse).
        neg = (
            negative_lapse(self._bt, self._bacc, tf, tl, self._negative)
            if tf - t_seg_lo >= _NEG_PRE_S
            else None
        )
        v = self._judge_shape(b, stage, f, feat, state)
        if neg is None:
            return v
        if neg.onset <= self._last_jerk_end:
            return _Verdict("duplicate", feat)
        feat.update(neg_dip=neg.dip_g, neg_lapse=neg.lapse_s)
        n0, n1 = np.searchsorted(self._bt, (neg.onset, neg.t_end), "left")
        seg_acc = self._bacc[n0 : n1 + 1]
        clip_n = _clipped_rows(seg_acc, cfg.clip_g)
        if clip_n / rate > cfg.max_clip_s:
            return _Verdict("clipping", feat)
        peak_jerk = (
            float(np.sqrt((np.diff(seg_acc, axis=0) ** 2).sum(axis=1)).max()) * rate
            if seg_acc.shape[0] > 1
            else 0.0
        )
        confidence = 1.0 - math.exp(-1.5 * max(b.peak_env / thr - 1.0, 0.0))
        event = JerkEvent(
            onset=neg.onset,
            duration=max(neg.t_end - neg.onset, 1.0 / rate),
            peak_jerk_g_per_s=peak_jerk,
            peak_acc_g=neg.peak_acc_g,
            kind="negative",
            series=None,
            confidence=round(min(max(confidence, 0.0), 1.0), 4),
            clipped=clip_n > 0,
            state=state,
        )
        return _Verdict(
            "jerk", feat, event, False, neg.t_end, fallback=v.event, shape_reason=v.reason
        )

    def _judge_shape(
        self, b: _Burst, stage: int, f: list[float], feat: dict[str, float], state: JerkState
    ) -> _Verdict:
        """The positive jerk's rules on burst ``b`` past its surroundings (see _judge)."""
        cfg = self.config
        rate = self.work_hz
        tf = b.t_first
        thr = f[_k.F_THR]
        # Quiet context before and after, relative to the noise floor.
        # Other brief bursts (jerks of the same series) are not "busy" surroundings: they are
        # left out; longer movements and sub-threshold rhythmic activity stay in.
        pre_ratio, post_ratio = f[_k.F_PRE_RATIO], f[_k.F_POST_RATIO]
        if max(pre_ratio, post_ratio) > cfg.max_context_ratio:
            return _Verdict("busy_context", feat)

        # Baseline posture just before the burst; noise level there.
        if stage == _k.S_BASE_SHORT:
            return _Verdict("gap_edge", feat)
        # The raw deviation may keep growing after the band-passed burst ended (a slow
        # movement): it is followed past it, but not into the next burst.  The jerk's own
        # lobe is the first big one: ringing and a small posture shift after it can add up
        # to a larger deviation later in the window.
        peak = f[_k.F_PEAK]
        feat.update(peak=peak, sigma1=f[_k.F_SIGMA1])
        if f[_k.F_PEAK_REFINED] < cfg.min_peak_acc_g:
            return _Verdict("small", feat)
        if stage == _k.S_NO_LOBE:  # the rising edge's levels: lvl_hi >= 0.95 x peak
            return _Verdict("small", feat)
        # Onset: walk back from the peak along the lobe, hopping over a dip to an earlier
        # phase of a biphasic jerk, then extrapolate the rising edge's tangent.
        if stage == _k.S_NO_ONSET:
            return _Verdict("no_onset", feat)
        onset = f[_k.F_ONSET]

        # A jerk starts abruptly from rest; a voluntary movement creeps in: the limb had
        # already drifted from where it was a second earlier when the steep part began.
        drift = f[_k.F_DRIFT]
        feat.update(drift=drift / peak)
        # Unless a clearly impulsive jerk (a series' previous one) ended just before: the
        # limb moved with it.  (A rather smooth one may be a fidget's start.)
        if (
            drift > cfg.max_pre_onset_drift * peak
            and self._last_sharp_jerk_end < tf - cfg.series_relax_s
        ):
            return _Verdict("gradual_start", feat)

        # End of the peak's lobe: back near the posture before, or settled in a new one.
        t_end = f[_k.F_T_END]
        duration = max(t_end - onset, 1.0 / rate)
        t_peak = f[_k.F_T_PEAK]
        feat.update(onset=onset, lobe=t_end - onset, rise=t_peak - onset)
        # Filled (interpolated) signal may carry the filters but never a jerk: its onset must
        # have been seen, and most of its lobe.
        if f[_k.F_FILLED_BAD]:
            return _Verdict("gap_edge", feat)
        if t_end - onset > cfg.max_lobe_s:
            return _Verdict("wide_lobe", feat)
        if t_peak - onset > cfg.max_rise_s:
            return _Verdict("slow_rise", feat)
        # Envelope above 20 % of its peak: lobe plus ringing.
        if f[_k.F_T_STRONG_END] - onset > cfg.max_event_s:
            return _Verdict("long_event", feat)

        # A single-sample spike is not a limb movement (where the rate can show that).
        # (Only one sample clearly up: at >= 80 Hz a limb cannot move that briefly.)
        if f[_k.F_SPIKE_COUNT] < 2 and self.rate_hz >= 80.0:
            return _Verdict("spike", feat)

        # Posture after the burst.  A jerk is a twitch: the limb ends up close to where it
        # was; the bigger the jerk, the further it may be thrown.  Voluntary movements and
        # turns reposition it.
        # Also further out: a transient in the middle of turning over (the arm landing on
        # the mattress) sits inside a posture change that started before it.
        tilt_deg = f[_k.F_TILT]
        max_tilt = min(
            cfg.max_orientation_change_deg,
            cfg.min_orientation_change_deg + cfg.orientation_change_deg_per_g * peak,
        )
        if tilt_deg > max_tilt:
            return _Verdict("posture_change", feat)
        # A transient within seconds of a large posture change (turning over, repositioning)
        # is the limb landing or settling after that movement: jerks start from a settled limb.
        settle_deg = f[_k.F_SETTLE]
        feat.update(settle=settle_deg)
        if settle_deg > cfg.max_settle_deg:
            return _Verdict("settling", feat)

        # Impulsiveness: a myoclonic burst is brief, so the limb's response carries energy
        # above ``impulse_hz`` (a sharp edge, limb ringing); a small, smooth, slow excursion
        # is a voluntary fidget.
        hf = f[_k.F_HF]

        feat.update(tilt=tilt_deg, hf=hf)
        # The rules below judge transients that are not clearly impulsive, and small ones.
        rather_smooth = hf < cfg.ambiguous_impulse_ratio
        small = peak < cfg.smooth_max_peak_g
        if hf < cfg.min_impulse_ratio and small:
            return _Verdict("smooth", feat)
        # A rather smooth transient followed within seconds by a large posture change is the
        # push that starts a turn (the mirror of settling); a jerk that wakes the sleeper
        # before a turn is impulsive and is not checked.
        if rather_smooth:
            turn_deg = f[_k.F_TURN]
            feat.update(turn=turn_deg)
            if turn_deg > cfg.max_settle_deg:
                return _Verdict("turn_start", feat)
        # Rather smooth and small: it must at least end like a twitch, back where it was.
        if hf < cfg.return_impulse_ratio and small and tilt_deg > cfg.return_max_tilt_deg:
            return _Verdict("no_return", feat)
        # A small, rather smooth transient is ambiguous; if the limb was moving in the two
        # seconds before it (a posture step between 0.5 s windows above both
        # ``max_pre_step_deg`` and 3 x the typical step of the last seconds, so that
        # breathing does not count), it is the end of a voluntary movement.  A jerk just
        # before (a series) explains such a step: then it is not checked.
        if rather_smooth and small and self._last_jerk_end < tf - 3.0 and f[_k.F_N_STEPS] >= 4:
            near_deg, typical_deg = f[_k.F_PRE_STEP], f[_k.F_PRE_STEP_TYP]
            feat.update(pre_step=near_deg, pre_step_typ=typical_deg)
            if near_deg > max(cfg.max_pre_step_deg, 3.0 * typical_deg):
                return _Verdict("moving_before", feat)

        # Saturation.
        clip_n = int(f[_k.F_CLIP_N])
        if clip_n / rate > cfg.max_clip_s:
            return _Verdict("clipping", feat)

        peak_jerk = f[_k.F_PEAK_JERK]
        snr = b.peak_env / thr
        ctx = max(pre_ratio, post_ratio) / cfg.max_context_ratio
        confidence = (1.0 - math.exp(-1.5 * max(snr - 1.0, 0.0))) * (1.0 - 0.5 * min(ctx, 1.0))
        event = JerkEvent(
            onset=float(onset),
            duration=float(duration),
            peak_jerk_g_per_s=peak_jerk,
            peak_acc_g=peak,
            kind="myoclonic",
            series=None,
            confidence=round(min(max(confidence, 0.0), 1.0), 4),
            clipped=clip_n > 0,
            state=state,
        )
        if onset <= self._last_jerk_end:
            # a later burst of the same movement found the same lobe
            return _Verdict("duplicate", feat)
        # Restless movement: shape alone cannot tell a rather smooth transient from a
        # voluntary sub-movement, but its surroundings can.  Jerks arise from rest; a movement
        # burst within the context windows (2 s) before or after makes it part of a bout of
        # restlessness.  (The busy-context check leaves brief bursts out because jerks come
        # in series; a burst rejected as movement is no jerk.)
        if rather_smooth and self._last_move_end >= tf - cfg.pre_context_s:
            return _Verdict("restless", feat)
        return _Verdict("jerk", feat, event, rather_smooth, t_end)

    # ================================================================== holding
    def _add_jerk(
        self, ev: JerkEvent, fallback: JerkEvent | None = None, published: bool = False
    ) -> None:
        if ev.kind == "negative":
            # A lapse of tone is no jerk of a series (nor does it break one).
            self._held.append(_Held(ev, None, True, fallback, published))
            return
        gap = self.config.series_gap_s
        h = _Held(ev, None, False)
        last = self._chain_last_onset
        if last is not None and ev.onset - last <= gap:
            if self._chain_id is None:
                self._chain_id = self._series_next
                self._series_next += 1
                for p in self._chain_pending:
                    p.series, p.series_final = self._chain_id, True
            h.series, h.series_final = self._chain_id, True
        else:
            for p in self._chain_pending:
                p.series_final = True  # previous chain closed (lone jerk stays None)
            self._chain_id = None
        self._chain_pending = [h] if h.series is None else []
        self._chain_last_onset = ev.onset
        self._held.append(h)

    def _release(self, final: bool) -> list[JerkEvent]:
        gap = self.config.series_gap_s
        if self._chain_last_onset is not None and (
            final or self._complete_until > self._chain_last_onset + gap
        ):
            for p in self._chain_pending:
                p.series_final = True
        out: list[JerkEvent] = []
        while self._held:
            h = self._held[0]
            if not h.series_final:
                break
            # Hypnic jerks are isolated sleep starts; jerks repeating in a series are
            # myoclonic whatever the sleep state.
            # Sleep starts are typically large (whole-body) jerks; a small twitch near a sleep
            # onset is more likely the ongoing myoclonus.
            if h.event.kind == "negative":
                kind: str | None = "negative"
            elif h.series is not None or h.event.peak_acc_g < self.config.hypnic_min_peak_g:
                kind = "myoclonic"
            else:
                kind = self.sleep.kind_at(h.event.onset, final)
            if kind is None:
                break
            state = h.event.state
            if state == "unknown":
                st = self.sleep.state_at(h.event.onset, final)
                if st is None:
                    break
                state = "asleep" if st == "asleep" else "awake"
            if kind == "negative" and state == "asleep":
                # A lying limb cannot lapse against gravity: it is what the jerk rules said
                # (its point moves to the jerk's onset, or it is no jerk).
                fb = h.fallback
                if fb is not None:
                    fb_kind = (
                        "myoclonic"
                        if fb.peak_acc_g < self.config.hypnic_min_peak_g
                        else self.sleep.kind_at(fb.onset, final)
                    )
                    if fb_kind is None:
                        break
                    kind = fb_kind
                self._held.pop(0)
                moved = fb is None or fb.onset != h.event.onset
                if self._want_provisional and h.published and moved:
                    self._withdraw(h.event)
                if fb is None:
                    self.rejected["negative_asleep"] = self.rejected.get("negative_asleep", 0) + 1
                    continue
                final_ev = _with(fb, kind, None, state)
                if self._want_provisional and (moved or not h.published):
                    self._claim(final_ev)
                    self._provisional.append(self._provisional_event(final_ev))
                out.append(final_ev)
                continue
            if kind == "negative" and self._want_provisional and not h.published:
                self._claim(h.event)
                self._provisional.append(self._provisional_event(_with(h.event, kind, None, state)))
            self._held.pop(0)
            out.append(_with(h.event, kind, h.series, state))
        return out

    def _trim(self) -> None:
        keep_s = max(self.config.pre_context_s, self.config.settle_window_s) + 1.0
        keep_n = max(1, round(keep_s * self.work_hz))
        # Trimmed once 1 s more than the rules need has built up: memory per live stream
        # stays near keep_s of signal; the copy is small next to a call's fixed cost.
        if self._bt.size < keep_n + max(1, round(self.work_hz)):
            return
        cut_t = float(self._bt[-1]) - keep_s
        for b in self._closed:
            cut_t = min(cut_t, b.t_first - keep_s)
        ob = self._open
        if ob is not None and ob.t_last - ob.t_first <= self.config.max_burst_s:
            cut_t = min(cut_t, ob.t_first - keep_s)
        cut = int(np.searchsorted(self._bt, cut_t))
        if cut <= 0:
            return
        self._bt = self._bt[cut:].copy()
        self._bacc = self._bacc[cut:].copy()
        self._benv = self._benv[cut:].copy()
        self._bfloor = self._bfloor[cut:].copy()
        self._bfill = self._bfill[cut:].copy()
        self._base += cut
        horizon = float(self._bt[0]) - keep_s
        while self._recent and self._recent[0][1] < horizon:
            self._recent.popleft()
            self._recent_arr = None
        # Every burst that could publish or withdraw a point this old has been judged.
        for onset in [o for o in self._claims if o < horizon]:
            del self._claims[onset]
        for seg in [s for s in self._seg_t1 if self._seg_t1[s] < horizon]:
            del self._seg_t1[seg]
            self._seg_t0.pop(seg, None)


def _clipped_rows(acc: FloatArray, clip_g: float | None) -> int:
    """Rows of ``acc`` (m, 3) g at the sensor's rail: beyond ``clip_g`` when known, else
    repeated identical values beyond ``_RAIL_MIN_G`` (as the burst kernel counts them)."""
    if acc.shape[0] == 0:
        return 0
    if clip_g is not None:
        return int((np.abs(acc) >= clip_g).any(axis=1).sum())
    rail = (np.abs(acc[1:]) >= _RAIL_MIN_G) & (acc[1:] == acc[:-1])
    return int(rail.any(axis=1).sum())


def _measured(ev: JerkEvent) -> tuple[float, float, float, float, float, bool, str]:
    """What a jerk's point carries besides its kind and series."""
    return (
        ev.onset,
        ev.duration,
        ev.peak_jerk_g_per_s,
        ev.peak_acc_g,
        ev.confidence,
        ev.clipped,
        ev.state,
    )


def _with(ev: JerkEvent, kind: str, series: int | None, state: JerkState) -> JerkEvent:
    k: JerkKind = "myoclonic"
    if kind in ("hypnic", "negative"):
        k = "hypnic" if kind == "hypnic" else "negative"
    return JerkEvent(
        onset=ev.onset,
        duration=ev.duration,
        peak_jerk_g_per_s=ev.peak_jerk_g_per_s,
        peak_acc_g=ev.peak_acc_g,
        kind=k,
        series=series,
        confidence=ev.confidence,
        clipped=ev.clipped,
        state=state,
    )
