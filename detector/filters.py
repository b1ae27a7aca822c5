"""The few filter designs the detector uses, in NumPy only (no SciPy on the detection path).

Importing ``scipy.signal`` costs about half a second, more than the rest of the detector's
imports together, for three small designs made once per detector.  This module reproduces
exactly what the detector asked SciPy for, operation for operation after SciPy 1.17's
``scipy.signal`` / ``scipy.ndimage`` (the reference; tests/test_filters.py checks the results
against it, to the bit, for every design the detector makes; the median filter may return
the other signed zero where -0.0 and +0.0 tie):

* :func:`butter_sos`: a digital Butterworth low-, high- or band-pass in second-order sections,
  as ``scipy.signal.butter(N, Wn, btype, fs=fs, output="sos")``: analog prototype
  (``buttap``), pre-warped band edges, ``lp2lp_zpk`` / ``lp2hp_zpk`` / ``lp2bp_zpk``,
  ``bilinear_zpk`` and ``zpk2sos`` with its default ``"nearest"`` pairing (same sections in
  the same order).
* :func:`sosfilt_zi`: ``scipy.signal.sosfilt_zi`` (steady-state initial conditions of a
  step, per section from ``lfilter_zi``).
* :func:`firwin_kaiser`: ``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))``
  for a low-pass (the FIR of :class:`~detector.interp.StreamInterpolator`), with the Kaiser
  window's Bessel function :func:`i0` computed as SciPy's Cephes ``i0``.
* :func:`median_filter_nearest`: ``scipy.ndimage.median_filter(x, size, mode="nearest")``
  for 1-D ``x``.

Only the code paths these calls take are here (digital filters, real-valued inputs); anything
else raises ``ValueError``.  Where SciPy computes with NumPy, this module makes the same NumPy
calls in the same order on the same dtypes, so the floating-point results are identical, not
merely close.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# Zeros and poles: real (float64) or complex (complex128) arrays, as SciPy keeps them.
_Roots = npt.NDArray[Any]

BType = Literal["lowpass", "highpass", "bandpass"]


# ============================================================ Butterworth (scipy.signal.butter)
def butter_sos(order: int, wn: float | Sequence[float], btype: BType, fs: float) -> FloatArray:
    """Digital Butterworth filter as second-order sections, (sections, 6).

    Same as ``scipy.signal.butter(order, wn, btype=btype, fs=fs, output="sos")``
    (``scipy.signal.iirfilter`` with ``ftype="butter"``).

    Args:
        order: filter order N >= 1 (a band-pass has 2N poles).
        wn: cut-off frequency, Hz (low/high-pass), or the (low, high) band edges, Hz
            (band-pass); each strictly between 0 and fs / 2.
        btype: "lowpass", "highpass" or "bandpass".
        fs: sample rate, Hz.
    """
    if int(order) != order or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    fs = float(fs)
    w = np.asarray(wn, dtype=np.float64)
    w = w / (fs / 2)
    if np.any(w <= 0) or np.any(w >= 1):
        raise ValueError(f"critical frequencies must be 0 < Wn < fs/2 (fs={fs}), got {wn!r}")
    z, p, k = _buttap(int(order))
    # Pre-warp the edges for the bilinear transform (at SciPy's normalised fs = 2).
    fs_n = 2.0
    warped = 2 * fs_n * np.tan(np.pi * w / fs_n)
    if btype in ("lowpass", "highpass"):
        if w.size != 1:
            raise ValueError("a low- or high-pass needs a single critical frequency")
        if btype == "lowpass":
            z, p, k = _lp2lp_zpk(z, p, k, float(warped))
        else:
            z, p, k = _lp2hp_zpk(z, p, k, float(warped))
    elif btype == "bandpass":
        if w.shape != (2,) or not w[0] < w[1]:
            raise ValueError(f"a band-pass needs increasing (low, high) edges, got {wn!r}")
        bw = warped[1] - warped[0]
        wo = np.sqrt(warped[0] * warped[1])
        z, p, k = _lp2bp_zpk(z, p, k, float(wo), float(bw))
    else:
        raise ValueError(f"btype must be lowpass, highpass or bandpass, got {btype!r}")
    z, p, k = _bilinear_zpk(z, p, k, fs_n)
    return _zpk2sos(z, p, k)


def _buttap(n: int) -> tuple[_Roots, _Roots, float]:
    """Analog Butterworth low-pass prototype (``scipy.signal.buttap``): no zeros, N poles on
    the left half of the unit circle, gain 1."""
    z = np.asarray([], dtype=np.float64)
    m = np.arange(-n + 1, n, 2, dtype=np.float64)
    # Middle value is 0 to ensure an exactly real pole
    p = -np.exp(1j * np.pi * m / (2 * n))
    return z, p, 1.0


def _relative_degree(z: _Roots, p: _Roots) -> int:
    degree = p.shape[0] - z.shape[0]
    if degree < 0:
        raise ValueError("improper transfer function: more zeros than poles")
    return int(degree)


def _lp2lp_zpk(z: _Roots, p: _Roots, k: float, wo: float) -> tuple[_Roots, _Roots, float]:
    """``scipy.signal.lp2lp_zpk``: scale the prototype's cut-off to ``wo`` rad/s."""
    degree = _relative_degree(z, p)
    return wo * z, wo * p, k * wo**degree


def _lp2hp_zpk(z: _Roots, p: _Roots, k: float, wo: float) -> tuple[_Roots, _Roots, float]:
    """``scipy.signal.lp2hp_zpk``: invert about the unit circle, cut-off ``wo`` rad/s; zeros
    at infinity move to the origin."""
    degree = _relative_degree(z, p)
    z_hp = wo / z
    p_hp = wo / p
    z_hp = np.concatenate((z_hp, np.zeros(degree)))
    k_hp = k * np.real(np.prod(-z) / np.prod(-p))
    return z_hp, p_hp, float(k_hp)


def _lp2bp_zpk(
    z: _Roots, p: _Roots, k: float, wo: float, bw: float
) -> tuple[_Roots, _Roots, float]:
    """``scipy.signal.lp2bp_zpk``: centre ``wo``, bandwidth ``bw`` rad/s; each root becomes a
    pair, ``degree`` zeros go to the origin."""
    dt = np.result_type(z, p, np.float64)  # SciPy's xp_promote(z, p, force_floating=True)
    z, p = z.astype(dt), p.astype(dt)
    degree = _relative_degree(z, p)
    z_lp = z * bw / 2
    p_lp = p * bw / 2
    z_lp = z_lp.astype(np.complex128)
    p_lp = p_lp.astype(np.complex128)
    z_bp = np.concatenate((z_lp + np.sqrt(z_lp**2 - wo**2), z_lp - np.sqrt(z_lp**2 - wo**2)))
    p_bp = np.concatenate((p_lp + np.sqrt(p_lp**2 - wo**2), p_lp - np.sqrt(p_lp**2 - wo**2)))
    z_bp = np.concatenate((z_bp, np.zeros(degree)))
    return z_bp, p_bp, k * bw**degree


def _bilinear_zpk(z: _Roots, p: _Roots, k: float, fs: float) -> tuple[_Roots, _Roots, float]:
    """``scipy.signal.bilinear_zpk``: s -> z with ``s = 2 fs (z - 1) / (z + 1)``; zeros at
    infinity go to Nyquist (z = -1)."""
    degree = _relative_degree(z, p)
    fs2 = 2.0 * fs
    z_z = (fs2 + z) / (fs2 - z)
    p_z = (fs2 + p) / (fs2 - p)
    z_z = np.concatenate((z_z, -np.ones(degree)))
    k_z = k * np.real(np.prod(fs2 - z) / np.prod(fs2 - p))
    return z_z, p_z, float(k_z)


def _cplxreal(z: _Roots) -> tuple[_Roots, _Roots]:
    """``scipy.signal._filter_design._cplxreal``: (one of each conjugate pair, the reals),
    each sorted as SciPy sorts them (real part, then |imag|)."""
    z = np.atleast_1d(z)
    if z.size == 0:
        return z, z
    tol = 100 * np.finfo((1.0 * z).dtype).eps
    z = z[np.lexsort((abs(z.imag), z.real))]
    real_indices = abs(z.imag) <= tol * abs(z)
    zr = z[real_indices].real
    if len(zr) == len(z):
        return np.array([]), zr
    z = z[~real_indices]
    zp = z[z.imag > 0]
    zn = z[z.imag < 0]
    if len(zp) != len(zn):
        raise ValueError("array contains a complex value with no matching conjugate")
    # Runs of (approximately) the same real part are sorted by their imaginary parts.
    same_real = np.diff(zp.real) <= tol * abs(zp[:-1])
    diffs = np.diff(np.concatenate(([0], same_real, [0])))
    run_starts = np.nonzero(diffs > 0)[0]
    run_stops = np.nonzero(diffs < 0)[0]
    for i in range(len(run_starts)):
        start = run_starts[i]
        stop = run_stops[i] + 1
        for chunk in (zp[start:stop], zn[start:stop]):
            chunk[...] = chunk[np.lexsort([abs(chunk.imag)])]
    if any(abs(zp - zn.conj()) > tol * abs(zn)):
        raise ValueError("array contains a complex value with no matching conjugate")
    zc = (zp + zn.conj()) / 2
    return zc, zr


def _nearest_real_complex_idx(fro: _Roots, to: Any, which: str) -> int:
    """Index of the element of ``fro`` nearest ``to`` (only real / only complex ones)."""
    order = np.argsort(np.abs(fro - to))
    if which == "any":
        return int(order[0])
    mask = np.isreal(fro[order])
    if which == "complex":
        mask = ~mask
    return int(order[np.nonzero(mask)[0][0]])


def _poly(seq_of_zeros: Sequence[Any]) -> npt.NDArray[Any]:
    """Monic polynomial with these roots (SciPy's ``_polyutils.poly``, as ``np.poly``)."""
    seq = np.atleast_1d(np.asarray(seq_of_zeros))
    if seq.shape[0] == 0:
        return np.asarray(1.0, dtype=np.real(seq).dtype)
    a = np.ones((1,), dtype=seq.dtype)
    one = np.ones_like(seq[0])
    for zero in seq:
        a = np.convolve(a, np.stack((one, -zero)), mode="full")
    if np.iscomplexobj(a):
        # if complex roots are all complex conjugates, the roots are real.
        roots = np.asarray(seq, dtype=np.complex128)
        if np.all(np.sort(np.imag(roots)) == np.sort(np.imag(np.conj(roots)))):
            a = np.asarray(np.real(a), copy=True)
    return a


def _single_zpksos(z: Sequence[Any], p: Sequence[Any]) -> FloatArray:
    """One section (b0, b1, b2, a0, a1, a2) from up to two zeros and poles, gain 1
    (``zpk2tf``: ``b = 1.0 * poly(z)``, ``a = poly(p)``, right-aligned)."""
    sos = np.zeros(6)
    b = np.atleast_1d(np.multiply(np.ones(1), _poly(z)))
    a = np.atleast_1d(_poly(p))
    sos[3 - len(b) : 3] = b
    sos[6 - len(a) : 6] = a
    return sos


def _zpk2sos(z: _Roots, p: _Roots, k: float) -> FloatArray:
    """``scipy.signal.zpk2sos(z, p, k)`` for a digital filter (``pairing="nearest"``): the
    poles closest to the unit circle go last, each paired with its nearest zeros; the gain
    goes into the first section."""
    if len(z) == len(p) == 0:
        return np.asarray([[k, 0.0, 0.0, 1.0, 0.0, 0.0]])
    # Same number of poles and zeros, and an even number of each.
    p = np.concatenate((p, np.zeros(max(len(z) - len(p), 0))))
    z = np.concatenate((z, np.zeros(max(len(p) - len(z), 0))))
    n_sections = (max(len(p), len(z)) + 1) // 2
    if len(p) % 2 == 1:
        p = np.concatenate((p, [0.0]))
        z = np.concatenate((z, [0.0]))
    # Complex conjugate pairs (one of each from _cplxreal), then the reals.
    z = np.concatenate(_cplxreal(z))
    p = np.concatenate(_cplxreal(p))

    def idx_worst(r: _Roots) -> int:  # "worst" = closest to the unit circle
        return int(np.argmin(np.abs(1 - np.abs(r))))

    sos = np.zeros((n_sections, 6))
    # Fill from the last section back, taking the worst remaining pole each time.
    for si in range(n_sections - 1, -1, -1):
        p1_idx = idx_worst(p)
        p1 = p[p1_idx]
        p = np.delete(p, p1_idx)
        if np.isreal(p1) and np.isreal(p).sum() == 0:
            # Special case (1): last remaining real pole.
            z1_idx = _nearest_real_complex_idx(z, p1, "real")
            z1 = z[z1_idx]
            z = np.delete(z, z1_idx)
            sos[si] = _single_zpksos([z1, 0], [p1, 0])
        elif (
            len(p) + 1 == len(z)
            and not np.isreal(p1)
            and np.isreal(p).sum() == 1
            and np.isreal(z).sum() == 1
        ):
            # Special case (2): one real pole and one real zero left with an equal number
            # of poles and zeros to pair: this pole must take a complex zero.
            z1_idx = _nearest_real_complex_idx(z, p1, "complex")
            z1 = z[z1_idx]
            z = np.delete(z, z1_idx)
            sos[si] = _single_zpksos([z1, z1.conj()], [p1, p1.conj()])
        else:
            if np.isreal(p1):
                prealidx = np.flatnonzero(np.isreal(p))
                p2_idx = prealidx[idx_worst(p[prealidx])]
                p2 = p[p2_idx]
                p = np.delete(p, p2_idx)
            else:
                p2 = p1.conj()
            if len(z) > 0:
                z1_idx = _nearest_real_complex_idx(z, p1, "any")
                z1 = z[z1_idx]
                z = np.delete(z, z1_idx)
                if not np.isreal(z1):
                    sos[si] = _single_zpksos([z1, z1.conj()], [p1, p2])
                elif len(z) > 0:
                    z2_idx = _nearest_real_complex_idx(z, p1, "real")
                    z2 = z[z2_idx]
                    z = np.delete(z, z2_idx)
                    sos[si] = _single_zpksos([z1, z2], [p1, p2])
                else:
                    sos[si] = _single_zpksos([z1], [p1, p2])
            else:
                sos[si] = _single_zpksos([], [p1, p2])
    assert len(p) == len(z) == 0  # every pole and zero placed
    sos[0][:3] *= k
    return sos


# ============================================================ sosfilt_zi
def _lfilter_zi(b: FloatArray, a: FloatArray) -> FloatArray:
    """``scipy.signal.lfilter_zi``: the state of ``lfilter(b, a)`` in its step response's
    steady state (solves ``zi = A zi + B`` with A the companion matrix of ``a``)."""
    while a.shape[0] > 1 and a[0] == 0.0:
        a = a[1:]
    if a.size < 1:
        raise ValueError("there must be at least one nonzero `a` coefficient")
    if a[0] != 1.0:
        b = b / a[0]
        a = a / a[0]
    n = max(a.shape[0], b.shape[0])
    if a.shape[0] < n:
        a = np.concatenate((a, np.zeros(n - a.shape[0], dtype=a.dtype)))
    elif b.shape[0] < n:
        b = np.concatenate((b, np.zeros(n - b.shape[0], dtype=b.dtype)))
    dt = np.result_type(a, b)
    # scipy.linalg.companion(a): first row -a[1:] / a[0], ones on the first sub-diagonal.
    companion = np.zeros((n - 1, n - 1), dtype=(-a[1:] / (1.0 * a[0:1])).dtype)
    companion[0, :] = -a[1:] / (1.0 * a[0:1])
    companion[np.arange(1, n - 1), np.arange(0, n - 2)] = 1
    i_minus_a = np.asarray(np.eye(n - 1) - companion.T, dtype=dt)
    rhs = b[1:] - a[1:] * b[0]
    zi: FloatArray = np.linalg.solve(i_minus_a, rhs)
    return zi


def sosfilt_zi(sos: FloatArray) -> FloatArray:
    """Initial state (sections, 2) for ``sosfilt`` in the steady state of a unit step, as
    ``scipy.signal.sosfilt_zi``: multiply by the first sample to start without a transient."""
    sos = np.asarray(sos)
    if sos.ndim != 2 or sos.shape[1] != 6:
        raise ValueError("sos must be shape (n_sections, 6)")
    if sos.dtype.kind in "biu":
        sos = sos.astype(np.float64)
    n_sections = sos.shape[0]
    zi = np.empty((n_sections, 2), dtype=sos.dtype)
    scale = 1.0
    for section in range(n_sections):
        b = sos[section, :3]
        a = sos[section, 3:]
        zi[section, ...] = scale * _lfilter_zi(b, a)
        # b.sum() / a.sum() is this section's DC gain: the next section's steady input.
        scale *= np.sum(b) / np.sum(a)
    return zi


# ============================================================ firwin with a Kaiser window
# Chebyshev coefficients of Cephes' i0 (as in scipy.special / numpy.i0): exp(-x) I0(x) on
# [0, 8] and exp(-x) sqrt(x) I0(x) on (8, inf).
_I0_A = (
    -4.41534164647933937950e-18,
    3.33079451882223809783e-17,
    -2.43127984654795469359e-16,
    1.71539128555513303061e-15,
    -1.16853328779934516808e-14,
    7.67618549860493561688e-14,
    -4.85644678311192946090e-13,
    2.95505266312963983461e-12,
    -1.72682629144155570723e-11,
    9.67580903537323691224e-11,
    -5.18979560163526290666e-10,
    2.65982372468238665035e-9,
    -1.30002500998624804212e-8,
    6.04699502254191894932e-8,
    -2.67079385394061173391e-7,
    1.11738753912010371815e-6,
    -4.41673835845875056359e-6,
    1.64484480707288970893e-5,
    -5.75419501008210370398e-5,
    1.88502885095841655729e-4,
    -5.76375574538582365885e-4,
    1.63947561694133579842e-3,
    -4.32430999505057594430e-3,
    1.05464603945949983183e-2,
    -2.37374148058994688156e-2,
    4.93052842396707084878e-2,
    -9.49010970480476444210e-2,
    1.71620901522208775349e-1,
    -3.04682672343198398683e-1,
    6.76795274409476084995e-1,
)
_I0_B = (
    -7.23318048787475395456e-18,
    -4.83050448594418207126e-18,
    4.46562142029675999901e-17,
    3.46122286769746109310e-17,
    -2.82762398051658348494e-16,
    -3.42548561967721913462e-16,
    1.77256013305652638360e-15,
    3.81168066935262242075e-15,
    -9.55484669882830764870e-15,
    -4.15056934728722208663e-14,
    1.54008621752140982691e-14,
    3.85277838274214270114e-13,
    7.18012445138366623367e-13,
    -1.79417853150680611778e-12,
    -1.32158118404477131188e-11,
    -3.14991652796324136454e-11,
    1.18891471078464383424e-11,
    4.94060238822496958910e-10,
    3.39623202570838634515e-9,
    2.26666899049817806459e-8,
    2.04891858946906374183e-7,
    2.89137052083475648297e-6,
    6.88975834691682398426e-5,
    3.36911647825569408990e-3,
    8.04490411014108831608e-1,
)


def _chbevl(x: float, coef: tuple[float, ...]) -> float:
    """Cephes ``chbevl``: Clenshaw sum of a Chebyshev series (same operation order)."""
    b0 = coef[0]
    b1 = 0.0
    b2 = 0.0
    for c in coef[1:]:
        b2 = b1
        b1 = b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


def i0(x: float) -> float:
    """Modified Bessel function of the first kind, order 0, as Cephes' ``i0`` (which
    ``scipy.special.i0`` is); scalar, with the C library's ``exp`` as in C."""
    x = abs(float(x))
    if x <= 8.0:
        return math.exp(x) * _chbevl(x / 2.0 - 2.0, _I0_A)
    return math.exp(x) * _chbevl(32.0 / x - 2.0, _I0_B) / math.sqrt(x)


def kaiser(m: int, beta: float) -> FloatArray:
    """Symmetric Kaiser window of ``m`` points, as ``scipy.signal.windows.kaiser(m, beta)``."""
    if int(m) != m or m < 0:
        raise ValueError(f"window length must be a non-negative integer, got {m!r}")
    if m <= 1:
        return np.ones(m, dtype=np.float64)
    n = np.arange(0, m, dtype=np.float64)
    alpha = (m - 1) / 2.0
    arg = beta * np.sqrt(1 - ((n - alpha) / alpha) ** 2.0)
    num = np.array([i0(v) for v in arg.tolist()], dtype=np.float64)
    w: FloatArray = num / np.float64(i0(beta))
    return w


def firwin_kaiser(numtaps: int, cutoff: float, beta: float) -> FloatArray:
    """Linear-phase low-pass FIR by the window method, as
    ``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))``: windowed sinc,
    scaled to unit gain at DC.

    Args:
        numtaps: number of taps (a low-pass stops Nyquist, so even counts are allowed too).
        cutoff: cut-off relative to Nyquist, 0 < cutoff < 1.
        beta: Kaiser window shape parameter.
    """
    if int(numtaps) != numtaps or numtaps < 1:
        raise ValueError(f"numtaps must be a positive integer, got {numtaps!r}")
    c = np.atleast_1d(np.asarray(cutoff, dtype=np.float64)) / 1.0
    if c.shape != (1,) or not 0 < c[0] < 1:
        raise ValueError(f"cutoff must be one frequency in (0, 1) x Nyquist, got {cutoff!r}")
    left, right = np.float64(0.0), c[0]  # the pass band [0, cutoff]
    alpha = 0.5 * (numtaps - 1)
    m = np.arange(0, numtaps, dtype=np.float64) - alpha
    h: FloatArray = 0 + right * np.sinc(right * m)
    h -= left * np.sinc(left * m)
    h *= kaiser(int(numtaps), beta)
    # Unit gain at DC (SciPy: the first pass band starts at 0, so scale frequency 0).
    cos = np.cos(np.pi * m * 0.0)
    h /= np.sum(h * cos)
    return h


# ============================================================ median filter (scipy.ndimage)
def median_filter_nearest(x: FloatArray, size: int) -> FloatArray:
    """Running median of 1-D ``x`` over ``size`` samples, edges extended with the edge value:
    ``scipy.ndimage.median_filter(x, size=size, mode="nearest")``.

    Window of output i: ``x[i - size // 2 .. i - size // 2 + size - 1]`` (centred; for an
    even size one more sample before than after), its element of rank ``size // 2`` (for an
    even size the upper of the two middle values, not their mean).  ``x`` must hold no NaN.
    The values are SciPy's; only where -0.0 and +0.0 tie may the other zero come out.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    if x.size == 0 or size == 1:
        return x.copy()
    before = size // 2
    padded = np.pad(x, (before, size - 1 - before), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    out: FloatArray = np.partition(windows, before, axis=1)[:, before].copy()
    return out
