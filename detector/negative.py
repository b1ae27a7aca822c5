"""Negative myoclonus: a brief lapse of tone in a limb held against gravity.

While the forearm is held up (arms outstretched, holding a cup), a 50-500 ms silent period
of the muscles that hold it lets it fall; a corrective burst then stops the fall and brings
it back (Shibasaki & Hallett 2005, "Electrophysiological studies of myoclonus"; asterixis and
epileptic negative myoclonus, Tassinari et al. 1995).  At the wrist the accelerometer reads
the specific force: during the fall the reading *along gravity* drops below its resting 1 g
(towards 0 g in free fall, never below it), mostly along gravity because the fall is
gravity's; then the corrective burst pushes it above 1 g with at least the impulse of the
fall (the fall must be stopped).  A positive jerk, by contrast, starts with an active push
in any direction, often across gravity, and a voluntary lowering creeps in and ends
elsewhere.

:func:`negative_lapse` judges one burst from the raw (n, 3) g samples around it:

1. posture before: the mean acceleration over ``pre_s`` ending ``pre_gap_s`` before the burst
   (the lapse may start a few hundred ms before the band-passed burst, which sees the
   corrective burst best); its direction is "up" and its scatter the noise sigma;
2. the first sample after that departs from it by more than 5 sigma, ``min_dip_g`` and 8 %
   of the largest departure must depart *down along gravity* (the lapse comes first);
3. the lapse runs from there until the along-gravity reading comes back to rest: it must
   last at least ``min_lapse_s`` (shorter is the first phase of a positive jerk), dip by
   ``min_dip_g`` .. ``max_dip_g`` (a fall cannot exceed free fall) and, at its deepest,
   deviate across gravity by at most ``max_perp_ratio`` of the dip (tan 40 deg: a forearm
   held within about 40 deg of horizontal falls nearly along gravity);
4. within ``recover_s`` after it the reading rises above rest with at least
   ``min_impulse_ratio`` x the lapse's impulse (momentum balance: the fall is stopped);
5. the posture afterwards is within ``max_tilt_deg`` of the posture before (the arm is
   restored, a voluntary lowering ends lower).

Only awake limbs can lapse against gravity (the detector applies that at release).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class NegativeParams:
    """Parameters of :func:`negative_lapse` (see :class:`~detector.config.DetectorConfig`)."""

    min_lapse_s: float = 0.055
    min_dip_g: float = 0.03
    max_dip_g: float = 1.1
    max_perp_ratio: float = 0.84
    min_impulse_ratio: float = 1.3
    max_tilt_deg: float = 30.0
    recover_s: float = 0.4
    pre_s: float = 0.6
    pre_gap_s: float = 0.6


@dataclass(frozen=True, slots=True)
class NegativeLapse:
    """One lapse of tone found by :func:`negative_lapse`.

    Attributes:
        onset: s, where the reading along gravity left rest (the start of the fall).
        t_end: s, end of the corrective burst (the reading back at rest, or the end of
            ``recover_s``).
        dip_g: the fall's largest drop of the reading along gravity, g (0..~1).
        peak_acc_g: largest deviation from the posture before over the lapse and the
            corrective burst, g.
        lapse_s: duration of the fall, s.
    """

    onset: float
    t_end: float
    dip_g: float
    peak_acc_g: float
    lapse_s: float


def negative_lapse(
    t: FloatArray, acc: FloatArray, t_first: float, t_last: float, params: NegativeParams
) -> NegativeLapse | None:
    """The lapse of tone behind the burst ``t_first .. t_last`` (s), or None.

    Args:
        t: (n,) s, increasing; acc: (n, 3) g, raw acceleration (gravity included) covering
            at least ``pre_gap_s + pre_s`` before the burst and ``recover_s`` after it.
    """
    p = params
    a, b, w1 = np.searchsorted(
        t, (t_first - p.pre_gap_s - p.pre_s, t_first - p.pre_gap_s, t_last + p.recover_s)
    )
    if b - a < 5 or w1 <= b:
        return None
    # A lapse lasts >= 50 ms: a centred 40 ms mean takes the sensor noise down without
    # blurring it (the posture and sigma are measured on the same smoothed signal).
    dt = (t[w1 - 1] - t[a]) / max(w1 - 1 - a, 1)  # sample period, s
    k = max(1, round(0.04 / dt) | 1)
    sm = _boxcar(acc[a:w1], k)
    pre = sm[: b - a]
    g0 = pre.mean(axis=0)
    g_norm = float(np.sqrt(g0 @ g0))
    if g_norm < 0.5:  # no gravity reference (free fall, bad data)
        return None
    up = g0 / g_norm
    dev0 = pre - g0
    sigma = float(np.sqrt(np.mean(np.einsum("ij,ij->i", dev0, dev0))))
    d = sm[b - a :] - g0
    along = d @ up
    mag = np.sqrt(np.einsum("ij,ij->i", d, d))
    # Relative to the event too: a slow stream, interpolated to the analysis rate, rings
    # a few per cent of a step before it (band-limited interpolation).
    thr = max(5.0 * sigma, p.min_dip_g, 0.08 * float(mag.max()))
    big = np.flatnonzero(mag > thr)
    if big.size == 0 or along[big[0]] >= 0.0:
        return None
    i0 = int(big[0])
    back = np.flatnonzero(along[i0:] >= 0.0)
    if back.size == 0:
        return None
    j = i0 + int(back[0])
    # The fall began where the reading left rest: the last sample before i0 within 2 sigma.
    rest = np.flatnonzero(along[:i0] > -2.0 * sigma)
    s = int(rest[-1]) + 1 if rest.size else 0
    lapse = along[s:j]
    k = int(np.argmin(lapse))
    dip = -float(lapse[k])
    lapse_s = float(t[b + j] - t[b + s])
    # (half a sample's tolerance: at 25 Hz a 55 ms lapse spans one or two periods)
    if not (p.min_dip_g <= dip <= p.max_dip_g) or lapse_s < p.min_lapse_s - 0.5 * dt:
        return None
    perp = d[s + k] - along[s + k] * up
    if float(np.sqrt(perp @ perp)) > p.max_perp_ratio * dip:
        return None
    t_rec = float(t[b + j]) + p.recover_s
    r1 = int(np.searchsorted(t, t_rec)) - b
    rec = along[j:r1]
    # Impulses as sums x sample period (g s).
    imp_lapse = -float(lapse.sum())
    imp_rec = float(np.clip(rec, 0.0, None).sum())
    if imp_rec < p.min_impulse_ratio * imp_lapse:
        return None
    c0, c1 = np.searchsorted(t, (t_last + 0.5, t_last + 1.1))
    if c1 - c0 >= 3:
        g1 = acc[c0:c1].mean(axis=0)
        cos = float(g1 @ g0) / (float(np.sqrt(g1 @ g1)) * g_norm + 1e-12)
        if math.degrees(math.acos(min(1.0, max(-1.0, cos)))) > p.max_tilt_deg:
            return None
    # End of the corrective burst: back below rest after its peak (or the window's end).
    if rec.size:
        kp = int(np.argmax(rec))
        down = np.flatnonzero(rec[kp:] <= 0.0)
        e = j + kp + (int(down[0]) if down.size else rec.size - 1 - kp)
    else:
        e = j
    e = min(e, along.size - 1)
    return NegativeLapse(
        onset=float(t[b + s]),
        t_end=float(t[b + e]),
        dip_g=dip,
        peak_acc_g=_peak_dev(acc[b + s : b + e + 1], g0),
        lapse_s=lapse_s,
    )


def _boxcar(x: FloatArray, k: int) -> FloatArray:
    """(n, 3) centred running mean over ``k`` (odd) samples, shrinking at the edges."""
    if k <= 1 or x.shape[0] < k:
        return x
    c = np.cumsum(np.vstack((np.zeros((1, x.shape[1])), x)), axis=0)
    n, h = x.shape[0], k // 2
    lo = np.clip(np.arange(n) - h, 0, n)
    hi = np.clip(np.arange(n) + h + 1, 0, n)
    out: FloatArray = (c[hi] - c[lo]) / (hi - lo)[:, None]
    return out


def _peak_dev(acc: FloatArray, g0: FloatArray) -> float:
    """Largest |acc - g0| over (m, 3) raw samples, g (the smoothed signal under-reads it)."""
    d = acc - g0
    return float(np.sqrt(np.einsum("ij,ij->i", d, d)).max()) if d.shape[0] else 0.0
