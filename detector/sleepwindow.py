"""The main sleep window of a night (sleep period time), after GGIR's HDCZA.

van Hees V.T. et al., "Estimating sleep parameters using an accelerometer without sleep
diary", Scientific Reports 8 (2018) 12975 (Heuristic algorithm looking at Distribution of
Change in Z-Angle, HDCZA):

1. the z-angle of the forearm, ``atan(az / sqrt(ax^2 + ay^2))`` in degrees, per 5 s epoch
   (here: the epochs of :class:`~detector.sleep.SleepEstimator`, from the samples outside
   bursts);
2. its 5-minute rolling median; the absolute change between successive epochs; the 5-minute
   rolling median of that change;
3. threshold = 15 x the 10th percentile of that series, kept within 0.13-0.50 degrees;
4. blocks below the threshold lasting more than 30 min (``spt_min_block_s``) are rest;
   blocks separated by less than 60 min (``spt_max_gap_s``) of worn time are joined; the
   longest is the main sleep window, from sleep onset to final wake.

Epochs when the sensor was not worn are never rest (a still device on a table would
otherwise be the calmest "sleep" of the recording); the gap between two rest blocks is measured in
worn time (taking the watch off for an hour does not split the night; sleep time inside the
window still excludes it).  The window needs the whole night (a
percentile of it), so it is computed when asked, typically at the end of a recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.filters import median_filter_nearest

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SleepWindow:
    """The main sleep window: ``onset`` (sleep onset) to ``wake`` (final wake), s."""

    onset: float
    wake: float

    @property
    def hours(self) -> float:
        return (self.wake - self.onset) / 3600.0


def main_sleep_window(
    epoch_start_s: FloatArray,
    z_angle_deg: FloatArray,
    epoch_s: float,
    not_worn: Sequence[tuple[float, float]] = (),
    min_block_s: float = 1800.0,
    max_gap_s: float = 3600.0,
) -> SleepWindow | None:
    """HDCZA main sleep window from per-epoch z-angles.

    Args:
        epoch_start_s: (n,) start of each epoch with a usable orientation, s, increasing
            (epochs may be missing: gaps).
        z_angle_deg: (n,) z-angle of each epoch, degrees.
        epoch_s: epoch length, s.  not_worn: (start, end) periods never in the window.
    Returns:
        The window, or None when no rest block is long enough.
    """
    if epoch_start_s.size < 3:
        return None
    k0 = np.round(epoch_start_s / epoch_s).astype(np.int64)
    n = int(k0[-1] - k0[0]) + 1
    # On the full epoch grid; missing epochs carry the last angle (a gap is no movement
    # evidence either way) but are marked, and never rest.
    idx = k0 - k0[0]
    z = np.full(n, np.nan)
    z[idx] = z_angle_deg
    have = ~np.isnan(z)
    z = _ffill(z)
    win = max(1, round(300.0 / epoch_s))
    zm = median_filter_nearest(z, win)  # = scipy.ndimage.median_filter(mode="nearest")
    dz = np.abs(np.diff(zm, prepend=zm[0]))
    x = median_filter_nearest(dz, win)
    t = (k0[0] + np.arange(n)) * epoch_s
    ok = have.copy()
    for a, b in not_worn:
        ok &= ~((t + epoch_s > a) & (t < b))
    if not ok.any():
        return None
    thr = float(np.clip(15.0 * np.percentile(x[ok], 10.0), 0.13, 0.5))
    rest = ok & (x < thr)
    blocks = _runs(rest)
    blocks = [(a, b) for a, b in blocks if (b - a) * epoch_s > min_block_s]
    if not blocks:
        return None
    joined = [blocks[0]]
    for a, b in blocks[1:]:
        pa, pb = joined[-1]
        if int(np.count_nonzero(ok[pb:a])) * epoch_s < max_gap_s:  # worn time between
            joined[-1] = (pa, b)
        else:
            joined.append((a, b))
    a, b = max(joined, key=lambda ab: ab[1] - ab[0])
    return SleepWindow(float(t[a]), float(t[b - 1] + epoch_s))


def _ffill(z: FloatArray) -> FloatArray:
    good = ~np.isnan(z)
    idx = np.where(good, np.arange(z.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = z[idx]
    first = int(np.argmax(good))
    out[:first] = z[first]
    return np.asarray(out, dtype=np.float64)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is True."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))
