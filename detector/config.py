"""Detector configuration: one frozen dataclass, validated at construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from detector.activity import ActivityParams
from detector.episodes import EpisodeParams
from detector.errors import ConfigError
from detector.negative import NegativeParams
from detector.wear import WearParams

_SIGNED = frozenset({"episode_min_half_corr"})  # correlations may be negative


@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of :class:`~detector.core.JerkDetector`, with physiological defaults.

    Detection (band-passed dynamic acceleration, g):
        band_low_hz / band_high_hz: pass band of the detection filter.  1 Hz removes gravity,
            breathing and most of slow fidgets; the top is capped at 0.45 x sample rate.
        filter_order: Butterworth order of each edge (2 -> a 4th-order band-pass).
        threshold_factor: candidate threshold as a multiple of the running noise floor
            (median band-passed magnitude over ``noise_history_s``).
        min_threshold_g: the candidate threshold never drops below this.
        min_peak_acc_g: smallest accepted jerk, peak deviation from the pre-jerk posture.
            REM twitches at the wrist stay below ~0.05 g; myoclonic jerks start near 0.1 g.
        noise_block_s / noise_history_s: the noise floor is the median of per-block medians.

    Shape of a jerk (limb response to a 10-350 ms muscle burst):
        merge_gap_s: supra-threshold runs closer than this form one burst (limb ringing).
        max_burst_s: a burst longer than this is a movement (turning over, scratching).
        max_event_s: onset to last sample above 20 % of the peak envelope (lobe + ringing).
        max_lobe_s: width of the main deviation lobe(s).
        max_rise_s: onset to peak; slow fidgets rise more slowly.
        max_pre_onset_drift: a jerk starts abruptly from rest.  If, just before the onset,
            the limb had already moved from where it was a second earlier by more than this
            fraction of the peak deviation, the movement crept in: voluntary, not a jerk.
        series_relax_s: within this time after a jerk of the same series ends, the limb's
            movement before the next onset is that jerk's, not a voluntary one: the drift
            rule does not apply (series 0.3-3 s apart, JME clusters, cortical trains).
        min_pre_s / min_post_s: quiet signal needed inside the segment before / after a
            burst, so nothing fires on a gap edge.
        pre_context_s / post_context_s: windows whose median envelope, relative to the
            noise floor, must stay below ``max_context_ratio`` (rhythmic scratching, tremor
            and restless movement raise it).
        max_neighbours: other bursts allowed within ``neighbour_window_s`` of this one
            (3-7 Hz strokes give several).
        min_train_interval_s: ... unless every burst there starts at least this long after
            the one before: a jerk train or cluster (1-3 Hz), slower than scratching
            (3-7 Hz) or tremor (4-12 Hz); each of its bursts is judged on its own.
        train_split_fraction, train_max_transient_s: a burst whose envelope holds several
            runs above this fraction of its peak, each at most this long and
            ``min_train_interval_s`` apart, with the envelope between two dropping below
            this fraction of the smaller, is a train of transients (a cluster whose ringing
            bridged ``merge_gap_s``): each is analysed as its own burst.
        max_orientation_change_deg, min_orientation_change_deg,
        orientation_change_deg_per_g: largest posture change across a jerk: min + per_g x
            peak, capped at max (a twitch leaves the limb near where it was; big jerks
            may throw it further); beyond it the burst is a turn or reposition.
        settle_window_s, max_settle_deg: a transient less than ``settle_window_s`` after the
            limb's posture differed from its pre-burst posture by more than ``max_settle_deg``
            (turning over, repositioning) is the limb landing or settling, not a jerk.
            Mirrored: a rather smooth one (impulse ratio below ``ambiguous_impulse_ratio``)
            followed within ``settle_window_s`` by such a change is the push that starts a
            turn.  (Bursts are therefore analysed ``settle_window_s`` after they end.)
        impulse_hz, min_impulse_ratio, smooth_max_peak_g: a transient below
            ``smooth_max_peak_g`` whose energy above ``impulse_hz`` is less than
            ``min_impulse_ratio`` of the total (RMS ratio) is a smooth voluntary fidget.
        ambiguous_impulse_ratio, max_pre_step_deg: a transient below ``smooth_max_peak_g``
            with an impulse ratio below ``ambiguous_impulse_ratio`` is rejected when the
            limb's posture stepped by more than ``max_pre_step_deg`` (and 3 x its typical
            step) between 0.5 s windows in the 2 s before it: the end of a movement.
            A transient of any size with an impulse ratio below ``ambiguous_impulse_ratio``
            is also rejected when a burst rejected as movement ends within
            ``pre_context_s`` before it or starts within ``post_context_s`` after it: jerks
            arise from rest, this is a bout of restlessness.
        return_impulse_ratio, return_max_tilt_deg: a transient below ``smooth_max_peak_g``
            with an impulse ratio below ``return_impulse_ratio`` counts only if the limb
            comes back to within ``return_max_tilt_deg`` of its posture: the less a
            transient looks like a twitch, the more it must end like one (a voluntary
            movement ends where it was meant to go).
        clip_g: absolute saturation level when known (e.g. 7.99 for a +-8 g sensor);
            otherwise a rail is recognised as repeated identical samples beyond 1.5 g.
        max_clip_s: longer saturation inside a burst is a sensor fault, not a jerk.

    Stream handling:
        analysis_rate_hz: a slower stream is interpolated (band-limited, by the integer
            factor nearest to analysis_rate_hz / rate, if >= 2) before anything else: at
            50 Hz a 40 ms lobe is two samples, its peak falls between them and a brief jerk
            can stay under the threshold.  Costs ``half_len`` = 10 input samples of latency.
        max_bridge_s: a time step longer than this is a gap: the filters restart and no
            event may straddle it.  ``None`` = 3.5 nominal sample periods.
        max_fill_s: a longer gap up to this (lost BLE packets) is filled by linear
            interpolation so the filters run on; no jerk may have its onset, or most of its
            lobe, in filled signal.  Up to the 2 s of context the checks look at, the limb
            is still seen on both sides of the gap.  Longer gaps end the segment.
        series_gap_s: successive jerks closer than this belong to one series.

    Sleep (van Hees-style sustained inactivity on 5 s epochs):
        epoch_s, rest_angle_deg, sleep_min_rest_s, wake_after_s, wake_window_s,
        wake_min_moves, max_sleep_bridge_s,
        rest_max_move_s, rest_jerk_angle_deg, rest_max_env_g: see :mod:`detector.sleep`.
        hypnic_before_s / hypnic_after_s: a jerk within this window around an estimated
            sleep onset is hypnic (unless it belongs to a series or is smaller than
            ``hypnic_min_peak_g``: sleep starts are isolated whole-body jerks, large at the
            wrist; a small jerk near a sleep onset is more likely the ongoing myoclonus).

    Wake activity (:mod:`detector.activity`):
        activity_window_s, activity_env_g, activity_min_fraction: a burst sits inside
            movement when the band-passed magnitude exceeds ``activity_env_g`` for at least
            ``activity_min_fraction`` of ``activity_window_s`` on both sides.
        step_hz_lo / step_hz_hi, walk_min_corr: walking = such movement whose envelope
            repeats at a step (or stride) period, autocorrelation above ``walk_min_corr``.
        walk_min_fraction: and moving for at least this share of the window (arm swing
            and trunk bounce between the heel strikes); transients at a step rhythm with
            the limb at rest between them are a jerk train, unless the rhythm is as
            regular as a gait (autocorrelation >= ``walk_sure_corr``: a walk with little
            arm swing, e.g. a hand on the wall).
        activity_jerk_ratio: inside movement a burst still counts when its peak envelope is
            this many times the movement's 95th percentile around it.
        activity_rest_ratio: off any step rhythm, a burst whose peak envelope is this many
            times the median envelope around it stands on a limb at rest between
            transients (a jerk cluster while sitting up or holding), not inside a
            movement, whose own strokes are a few times its ongoing level.

    Wear (:mod:`detector.wear`, van Hees 2011/2013):
        nonwear_window_s, nonwear_sd_g, nonwear_range_g: a window of this length with sd
            and range below these on >= 2 axes is not worn.
        idle_min_s: a run of exactly repeated samples this long is idle mode: not worn.

    Convulsive episodes (:mod:`detector.episodes`):
        episode_window_s, episode_min_s, episode_min_peak_g, episode_hz_lo, episode_hz_hi,
        episode_min_corr, episode_max_median_ratio, episode_min_half_corr: see the module.

    Main sleep window (:mod:`detector.sleepwindow`, van Hees 2018 HDCZA):
        spt_min_block_s, spt_max_gap_s: rest blocks at least this long, gaps shorter merged.

    Negative myoclonus (:mod:`detector.negative`):
        negative_min_lapse_s, negative_min_dip_g, negative_max_dip_g,
        negative_max_perp_ratio, negative_min_impulse_ratio, negative_max_tilt_deg: a
            burst whose first departure is a fall along gravity lasting at least
            ``negative_min_lapse_s``, dipping by ``negative_min_dip_g`` ..
            ``negative_max_dip_g``, at most ``negative_max_perp_ratio`` x the dip across
            gravity, stopped by a corrective burst of at least ``negative_min_impulse_ratio``
            x its impulse and ending within ``negative_max_tilt_deg`` of the posture before,
            is a lapse of tone (kind ``negative``; ``myoclonic`` when asleep).
    """

    band_low_hz: float = 1.0
    band_high_hz: float = 15.0
    filter_order: int = 2
    threshold_factor: float = 3.0
    min_threshold_g: float = 0.035
    min_peak_acc_g: float = 0.07
    noise_block_s: float = 1.0
    noise_history_s: float = 30.0

    merge_gap_s: float = 0.12
    max_burst_s: float = 1.5
    max_event_s: float = 0.9
    max_lobe_s: float = 0.8
    max_rise_s: float = 0.3
    max_pre_onset_drift: float = 0.25
    series_relax_s: float = 1.5
    min_pre_s: float = 0.45
    min_post_s: float = 0.5
    pre_context_s: float = 2.0
    post_context_s: float = 2.0
    max_context_ratio: float = 3.0
    neighbour_window_s: float = 0.7
    max_neighbours: int = 1
    min_train_interval_s: float = 0.35
    train_split_fraction: float = 0.35
    train_max_transient_s: float = 0.5
    max_orientation_change_deg: float = 25.0
    min_orientation_change_deg: float = 10.0
    orientation_change_deg_per_g: float = 10.0
    settle_window_s: float = 6.0
    max_settle_deg: float = 20.0
    impulse_hz: float = 5.0
    min_impulse_ratio: float = 0.11
    smooth_max_peak_g: float = 0.4
    ambiguous_impulse_ratio: float = 0.2
    return_impulse_ratio: float = 0.14
    return_max_tilt_deg: float = 2.5
    max_pre_step_deg: float = 1.0
    clip_g: float | None = None
    max_clip_s: float = 0.25

    analysis_rate_hz: float = 100.0
    max_bridge_s: float | None = None
    max_fill_s: float = 2.0
    series_gap_s: float = 10.0

    epoch_s: float = 5.0
    rest_angle_deg: float = 5.0
    rest_jerk_angle_deg: float = 15.0
    rest_max_move_s: float = 0.5
    rest_max_env_g: float = 0.025
    sleep_min_rest_s: float = 300.0
    wake_after_s: float = 900.0
    wake_window_s: float = 300.0
    wake_min_moves: int = 8
    max_sleep_bridge_s: float = 600.0
    hypnic_before_s: float = 120.0
    hypnic_after_s: float = 300.0
    hypnic_min_peak_g: float = 0.5

    activity_window_s: float = 5.0
    activity_env_g: float = 0.02
    activity_min_fraction: float = 0.3
    step_hz_lo: float = 1.4
    step_hz_hi: float = 2.5
    walk_min_corr: float = 0.3
    walk_min_fraction: float = 0.5
    walk_sure_corr: float = 0.6
    activity_jerk_ratio: float = 3.0
    activity_rest_ratio: float = 20.0

    negative_min_lapse_s: float = 0.055
    negative_min_dip_g: float = 0.03
    negative_max_dip_g: float = 1.1
    negative_max_perp_ratio: float = 0.84
    negative_min_impulse_ratio: float = 1.3
    negative_max_tilt_deg: float = 30.0
    nonwear_window_s: float = 3600.0
    nonwear_sd_g: float = 0.013
    nonwear_range_g: float = 0.050
    idle_min_s: float = 60.0

    episode_window_s: float = 2.0
    episode_min_s: float = 10.0
    episode_min_peak_g: float = 0.5
    episode_hz_lo: float = 3.0
    episode_hz_hi: float = 8.0
    episode_min_corr: float = 0.4
    episode_max_median_ratio: float = 0.5
    episode_min_half_corr: float = -0.75

    spt_min_block_s: float = 1800.0
    spt_max_gap_s: float = 3600.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"DetectorConfig.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"DetectorConfig.{f.name} must be finite, got {value!r}")
            if value < 0 and f.name not in _SIGNED:
                raise ConfigError(f"DetectorConfig.{f.name} must be >= 0, got {value!r}")
        if not 0 < self.band_low_hz < self.band_high_hz:
            raise ConfigError(
                "DetectorConfig needs 0 < band_low_hz < band_high_hz, got "
                f"{self.band_low_hz} and {self.band_high_hz}"
            )
        if self.filter_order not in (1, 2, 3, 4):
            raise ConfigError(f"DetectorConfig.filter_order must be 1..4, got {self.filter_order}")
        if self.threshold_factor < 1:
            raise ConfigError(
                f"DetectorConfig.threshold_factor must be >= 1, got {self.threshold_factor}"
            )
        if self.min_threshold_g <= 0 or self.min_peak_acc_g <= 0:
            raise ConfigError("DetectorConfig.min_threshold_g and min_peak_acc_g must be > 0")
        if self.noise_history_s < self.noise_block_s or self.noise_block_s <= 0:
            raise ConfigError("DetectorConfig needs 0 < noise_block_s <= noise_history_s")
        if self.analysis_rate_hz <= 0:
            raise ConfigError(
                f"DetectorConfig.analysis_rate_hz must be > 0, got {self.analysis_rate_hz}"
            )
        if self.max_bridge_s is not None and self.max_bridge_s <= 0:
            raise ConfigError(f"DetectorConfig.max_bridge_s must be > 0, got {self.max_bridge_s}")
        if self.epoch_s <= 0 or self.sleep_min_rest_s < self.epoch_s:
            raise ConfigError("DetectorConfig needs 0 < epoch_s <= sleep_min_rest_s")
        if not 0 < self.step_hz_lo < self.step_hz_hi:
            raise ConfigError("DetectorConfig needs 0 < step_hz_lo < step_hz_hi")
        if not 0 < self.episode_hz_lo < self.episode_hz_hi:
            raise ConfigError("DetectorConfig needs 0 < episode_hz_lo < episode_hz_hi")
        if not -1.0 <= self.episode_min_half_corr <= 1.0:
            raise ConfigError("DetectorConfig.episode_min_half_corr must be within -1..1")
        if self.episode_window_s <= 0 or self.nonwear_window_s < 60:
            raise ConfigError("DetectorConfig needs episode_window_s > 0, nonwear_window_s >= 60")
        if not (self.idle_min_s > 0 and self.nonwear_sd_g > 0 and self.nonwear_range_g > 0):
            raise ConfigError(
                "DetectorConfig needs idle_min_s, nonwear_sd_g and nonwear_range_g > 0"
            )
        if self.max_event_s > self.max_burst_s:
            raise ConfigError("DetectorConfig needs max_event_s <= max_burst_s")

    def activity_params(self) -> ActivityParams:
        return ActivityParams(
            window_s=self.activity_window_s,
            env_g=self.activity_env_g,
            min_fraction=self.activity_min_fraction,
            step_hz_lo=self.step_hz_lo,
            step_hz_hi=self.step_hz_hi,
            walk_min_corr=self.walk_min_corr,
            walk_min_fraction=self.walk_min_fraction,
            walk_sure_corr=self.walk_sure_corr,
            jerk_ratio=self.activity_jerk_ratio,
            rest_ratio=self.activity_rest_ratio,
        )

    def negative_params(self) -> NegativeParams:
        return NegativeParams(
            min_lapse_s=self.negative_min_lapse_s,
            min_dip_g=self.negative_min_dip_g,
            max_dip_g=self.negative_max_dip_g,
            max_perp_ratio=self.negative_max_perp_ratio,
            min_impulse_ratio=self.negative_min_impulse_ratio,
            max_tilt_deg=self.negative_max_tilt_deg,
        )

    def wear_params(self) -> WearParams:
        return WearParams(
            window_s=self.nonwear_window_s,
            sd_g=self.nonwear_sd_g,
            range_g=self.nonwear_range_g,
            idle_min_s=self.idle_min_s,
        )

    def episode_params(self) -> EpisodeParams:
        return EpisodeParams(
            window_s=self.episode_window_s,
            min_s=self.episode_min_s,
            min_peak_g=self.episode_min_peak_g,
            hz_lo=self.episode_hz_lo,
            hz_hi=self.episode_hz_hi,
            min_corr=self.episode_min_corr,
            max_median_ratio=self.episode_max_median_ratio,
            min_half_corr=self.episode_min_half_corr,
        )

    def bridge_s(self, rate_hz: float) -> float:
        """Longest time step, s, that is still continuous signal at ``rate_hz``; a longer one
        is a gap (filled up to ``max_fill_s``, else the segment ends)."""
        return self.max_bridge_s if self.max_bridge_s is not None else 3.5 / rate_hz

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
