"""Fixed windows of a time axis (epochs, minutes) without visiting every sample."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def window_runs(t: FloatArray, length_s: float) -> tuple[IntArray, IntArray]:
    """Where the window index ``floor(t / length_s)`` changes along increasing ``t``.

    Args:
        t: (n,) s, increasing, n >= 1.  length_s: window length, s (> 0).

    Returns:
        starts: (m,) position of the first sample of each window that holds samples (the
        first is 0); index: (m,) those windows' indices ``floor(t[starts] / length_s)``.

    The same as flooring every sample and diffing, found by binary search instead
    (``floor(x) >= k`` exactly when ``x >= k``), unless the samples span more windows than
    they hold samples (then the per-sample way is the cheaper one).
    """
    k0, k1 = math.floor(t[0] / length_s), math.floor(t[-1] / length_s)
    if k0 == k1:  # the usual live case: one window (a few us of NumPy calls saved per call)
        return np.zeros(1, dtype=np.int64), np.full(1, k0, dtype=np.int64)
    x = t / length_s
    if k1 - k0 <= x.size:
        pos = np.searchsorted(x, np.arange(k0 + 1, k1 + 1, dtype=np.float64), "left")
        starts = np.concatenate((np.zeros(1, dtype=np.int64), pos))
        # (windows without samples give repeated positions: one start each)
        starts = starts[np.concatenate(([True], starts[1:] != starts[:-1]))]
    else:
        w = np.floor(x)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(w)) + 1))
    return starts.astype(np.int64), np.floor(x[starts]).astype(np.int64)
