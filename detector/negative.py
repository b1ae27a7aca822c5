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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector import _features as _k

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
    # Compiled (detector/_features.pyx): a busy night asks this of every burst, and the
    # NumPy form cost ~150 us a call; tests/test_negative.py keeps that form as reference.
    prm = np.array(
        (
            p.min_lapse_s,
            p.min_dip_g,
            p.max_dip_g,
            p.max_perp_ratio,
            p.min_impulse_ratio,
            p.max_tilt_deg,
            p.recover_s,
            p.pre_s,
            p.pre_gap_s,
        )
    )
    found = _k.negative_lapse(t, acc, float(t_first), float(t_last), prm)
    if found is None:
        return None
    onset, t_end, dip, peak, lapse_s = found
    return NegativeLapse(onset=onset, t_end=t_end, dip_g=dip, peak_acc_g=peak, lapse_s=lapse_s)
