"""Fixed windows of a time axis (epochs, minutes) without visiting every sample."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detector import _features as _k

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
    # Compiled (detector/_features.pyx): no (n,) array of t / length_s per call.
    return _k.window_runs(np.ascontiguousarray(t, dtype=np.float64), float(length_s))
