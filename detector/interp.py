"""Streaming band-limited interpolation by an integer factor.

The detector measures a jerk's shape (onset, peak, lobe width, rise) on samples.  At 50 Hz a
40 ms lobe is two samples: its peak falls between them and a brief burst can stay under the
threshold.  The signal itself is band-limited well below 25 Hz (the detector looks at <= 15 Hz),
so slower streams are interpolated to the analysis rate first, as ``scipy.signal.resample_poly``
would, but in chunks of any size with the state carried over.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detector.filters import firwin_kaiser

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class StreamInterpolator:
    """Upsample one gap-free segment at a time by ``factor``, chunk-invariantly.

    A linear-phase windowed-sinc FIR (``resample_poly``'s design: Kaiser, beta 5, cut-off at
    the input Nyquist).  The output at input position ``i + p / factor`` depends on inputs
    ``i - half_len + 1 .. i + half_len``, so output lags input by ``half_len`` samples.
    Original samples pass through unchanged (phase 0 is a copy, not a filtered value).
    Every output is the same fixed sum whatever the chunking, so results are bitwise
    identical.  A segment's edges are extended by repeating its edge sample (a limb at rest
    there: no ringing from an implied step).

    Times of interpolated samples are interpolated linearly between their neighbours (the
    stream may be irregular); an interpolated sample is marked filled if either neighbour is.
    """

    def __init__(self, factor: int, half_len: int = 10, beta: float = 5.0) -> None:
        if factor < 1 or half_len < 1:
            raise ValueError(f"factor and half_len must be >= 1, got {factor}, {half_len}")
        self.factor = factor
        self.half_len = half_len
        d, n = half_len, factor
        h = firwin_kaiser(2 * d * n + 1, 1.0 / n, beta) * n  # = scipy.signal.firwin's
        # Phase p > 0: y[i + p/n] = sum_j taps[p - 1][j + d] * x[i - j], j = -d .. d - 1.
        j = np.arange(-d, d)
        # Each phase is normalised to unit DC gain, so a still limb stays exactly still
        # instead of carrying a small alternation at the output rate.
        self._taps: list[FloatArray] = []
        for p in range(1, n):
            g = np.asarray(h[j * n + p + d * n], dtype=np.float64)
            self._taps.append(g / g.sum())
        self._frac = np.arange(n, dtype=np.float64) / n
        self._x: FloatArray = np.empty((0, 3))  # inputs from position next - d on
        self._t: FloatArray = np.empty(0)  # inputs' times from position next on
        self._f: BoolArray = np.empty(0, dtype=bool)

    def start(self, first: FloatArray) -> None:
        """Begin a segment whose first sample (3,) g is ``first`` (history = that sample)."""
        self._x = np.repeat(np.asarray(first, dtype=np.float64)[None, :], self.half_len, axis=0)
        self._t = np.empty(0)
        self._f = np.empty(0, dtype=bool)

    def push(
        self, t: FloatArray, x: FloatArray, filled: BoolArray
    ) -> tuple[FloatArray, FloatArray, BoolArray]:
        """Add (n,) s, (n, 3) g, (n,) mask; return the outputs that became computable."""
        self._x = np.concatenate((self._x, x))
        self._t = np.concatenate((self._t, t))
        self._f = np.concatenate((self._f, filled))
        return self._emit(self._t.size - self.half_len, final=False)

    def finish(self) -> tuple[FloatArray, FloatArray, BoolArray]:
        """End the segment: pad with its last sample and return the remaining outputs (none
        if nothing is pending, e.g. when called twice)."""
        if self._t.size == 0:
            return np.empty(0), np.empty((0, 3)), np.empty(0, dtype=bool)
        pad = np.repeat(self._x[-1:], self.half_len, axis=0)
        self._x = np.concatenate((self._x, pad))
        return self._emit(self._t.size, final=True)

    def _emit(self, c: int, final: bool) -> tuple[FloatArray, FloatArray, BoolArray]:
        """Outputs at input positions next .. next + c - 1 (all phases; when ``final`` the
        last position gets phase 0 only: nothing follows it)."""
        n, d = self.factor, self.half_len
        if c <= 0:
            return np.empty(0), np.empty((0, 3)), np.empty(0, dtype=bool)
        full = c - 1 if final else c  # positions whose right neighbour exists
        y = np.empty((full, n, 3))
        y[:, 0] = self._x[d : d + full]
        for p, taps in enumerate(self._taps, start=1):
            acc = np.zeros((full, 3))
            for k, g in enumerate(taps):  # j = k - d; x[i - j] sits at d - j + (i - next)
                s = 2 * d - k
                acc += g * self._x[s : s + full]
            y[:, p] = acc
        t0, t1 = self._t[:full], self._t[1 : full + 1]
        ty = t0[:, None] + self._frac[None, :] * (t1 - t0)[:, None]
        f0, f1 = self._f[:full], self._f[1 : full + 1]
        fy = np.repeat(f0[:, None], n, axis=1)
        fy[:, 1:] |= f1[:, None]
        t_out, x_out, f_out = ty.reshape(-1), y.reshape(-1, 3), fy.reshape(-1)
        if final:
            t_out = np.concatenate((t_out, self._t[-1:]))
            x_out = np.concatenate((x_out, self._x[d + full : d + full + 1]))
            f_out = np.concatenate((f_out, self._f[-1:]))
            self._t = np.empty(0)
            self._f = np.empty(0, dtype=bool)
            self._x = np.empty((0, 3))
        else:
            self._x = self._x[c:]
            self._t = self._t[c:]
            self._f = self._f[c:]
        return t_out, x_out, f_out
