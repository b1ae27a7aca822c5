# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled numerical kernels of the detector (Cython, built with the package).

The detector's verdict logic stays in Python (``JerkDetector._analyse``); what is here
computes the numbers it judges: the band-pass and its envelope per block, and the features of
one burst (context, baseline posture, onset, lobe, posture changes, impulse ratio, clipping,
peak jerk).  Per burst this replaces ~40 small NumPy calls (~0.9 ms) by one compiled call
(a few us), so a busy night costs about what a quiet one does.  Compiled ahead of time, it
adds nothing to start-up (a JIT would add about a second to every command).

Every kernel reproduces the NumPy/SciPy computation it replaced operation for operation, so
results are bit-identical (tests/test_detector_golden.py):

* sums and means use NumPy's pairwise summation (``_pairwise_sum``);
* ``np.einsum("ij,ij->i", x, x)`` on C-contiguous (n, 3) rows adds ``(x0² + x2²) + x1²``,
  on strided ones (what ``sosfilt`` returns) ``(x0² + x1²) + x2²``;
* ``np.median`` takes the middle element, or the mean of the two middle ones;
* ``scipy.signal.sosfilt`` runs each section as a transposed direct form II, and
  ``sosfiltfilt`` pads by odd extension and starts both passes from ``sosfilt_zi`` scaled by
  the edge sample (precomputed once instead of on every call);
* ``np.arange`` with a float step computes element i as ``start + i * delta`` with
  ``delta = (start + step) - start``.

Built with ``-ffp-contract=off``: a fused multiply-add would change the last bits.
"""

from libc.math cimport sqrt, acos, asin, pow, ceil, floor, fabs, isnan, rint, INFINITY, NAN
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

import numpy as np

cdef enum:
    CP_NEIGHBOUR_WINDOW = 0
    CP_MAX_BURST = 1
    CP_PRE_CONTEXT = 2
    CP_POST_CONTEXT = 3
    CP_MAX_LOBE = 4
    CP_SETTLE_WINDOW = 5
    CP_LOOK_AHEAD = 6
    CP_LOOK_BACK = 7
    CP_MIN_THRESHOLD = 8
    CP_THRESHOLD_FACTOR = 9
    CP_RATE = 10
    CP_CLIP_G = 11
    CP_RAIL_MIN_G = 12
    CP_HOP_N = 13
    CP_AMBIGUOUS_IMPULSE = 14
    CP_ACT_WINDOW = 15
    CP_ACT_ENV = 16
    CP_ACT_MIN_FRACTION = 17
    CN_PARAMS = 18
    CS_BASE_SHORT = 1
    CS_NO_LOBE = 2
    CS_NO_ONSET = 3
    CS_DONE = 4
    CF_FLOOR = 0
    CF_THR = 1
    CF_NEIGHBOURS = 2
    CF_PRE_RATIO = 3
    CF_POST_RATIO = 4
    CF_SIGMA1 = 5
    CF_PEAK = 6
    CF_PEAK_REFINED = 7
    CF_ONSET = 8
    CF_DRIFT = 9
    CF_T_END = 10
    CF_T_PEAK = 11
    CF_FILLED_BAD = 12
    CF_T_STRONG_END = 13
    CF_SPIKE_COUNT = 14
    CF_TILT = 15
    CF_SETTLE = 16
    CF_HF = 17
    CF_TURN = 18
    CF_N_STEPS = 19
    CF_PRE_STEP = 20
    CF_PRE_STEP_TYP = 21
    CF_CLIP_N = 22
    CF_PEAK_JERK = 23
    CF_ACTIVE = 24
    CF_REACH = 25
    CF_WIN0 = 26
    CF_WIN1 = 27
    CN_FEATURES = 28

P_NEIGHBOUR_WINDOW = CP_NEIGHBOUR_WINDOW
P_MAX_BURST = CP_MAX_BURST
P_PRE_CONTEXT = CP_PRE_CONTEXT
P_POST_CONTEXT = CP_POST_CONTEXT
P_MAX_LOBE = CP_MAX_LOBE
P_SETTLE_WINDOW = CP_SETTLE_WINDOW
P_LOOK_AHEAD = CP_LOOK_AHEAD
P_LOOK_BACK = CP_LOOK_BACK
P_MIN_THRESHOLD = CP_MIN_THRESHOLD
P_THRESHOLD_FACTOR = CP_THRESHOLD_FACTOR
P_RATE = CP_RATE
P_CLIP_G = CP_CLIP_G
P_RAIL_MIN_G = CP_RAIL_MIN_G
P_HOP_N = CP_HOP_N
P_AMBIGUOUS_IMPULSE = CP_AMBIGUOUS_IMPULSE  # turn only judged below it: computed only then
P_ACT_WINDOW = CP_ACT_WINDOW  # ActivityParams.window_s, env_g, min_fraction
P_ACT_ENV = CP_ACT_ENV
P_ACT_MIN_FRACTION = CP_ACT_MIN_FRACTION
N_PARAMS = CN_PARAMS
S_BASE_SHORT = CS_BASE_SHORT
S_NO_LOBE = CS_NO_LOBE
S_NO_ONSET = CS_NO_ONSET
S_DONE = CS_DONE
F_FLOOR = CF_FLOOR
F_THR = CF_THR
F_NEIGHBOURS = CF_NEIGHBOURS
F_PRE_RATIO = CF_PRE_RATIO
F_POST_RATIO = CF_POST_RATIO
F_SIGMA1 = CF_SIGMA1
F_PEAK = CF_PEAK
F_PEAK_REFINED = CF_PEAK_REFINED
F_ONSET = CF_ONSET
F_DRIFT = CF_DRIFT
F_T_END = CF_T_END
F_T_PEAK = CF_T_PEAK
F_FILLED_BAD = CF_FILLED_BAD
F_T_STRONG_END = CF_T_STRONG_END
F_SPIKE_COUNT = CF_SPIKE_COUNT
F_TILT = CF_TILT
F_SETTLE = CF_SETTLE
F_HF = CF_HF
F_TURN = CF_TURN
F_N_STEPS = CF_N_STEPS
F_PRE_STEP = CF_PRE_STEP
F_PRE_STEP_TYP = CF_PRE_STEP_TYP
F_CLIP_N = CF_CLIP_N
F_PEAK_JERK = CF_PEAK_JERK
F_ACTIVE = CF_ACTIVE  # activity_fraction: NaN when too little signal around
F_REACH = CF_REACH
F_WIN0 = CF_WIN0  # buffer indices of the burst's analysis window
F_WIN1 = CF_WIN1
N_FEATURES = CN_FEATURES

# Indices into the parameter vector of burst_features (built once per detector).


# Stages reached by burst_features (features up to the stage are valid).


cdef double _DEG = 57.29577951308232  # math.degrees(1.0)


# ---------------------------------------------------------------- NumPy-exact primitives
cdef double _pairwise_sum(const double* a, Py_ssize_t n) noexcept nogil:
    """``np.add.reduce`` of ``a[:n]``: 8 accumulators up to 128 elements, halves above."""
    cdef Py_ssize_t i, n2, stop
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r0 = a[0]; r1 = a[1]; r2 = a[2]; r3 = a[3]
        r4 = a[4]; r5 = a[5]; r6 = a[6]; r7 = a[7]
        i = 8
        stop = n - (n % 8)
        while i < stop:
            r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3]
            r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, n2) + _pairwise_sum(a + n2, n - n2)


cdef inline double _sq(double x0, double x1, double x2) noexcept nogil:
    return (x0 * x0 + x2 * x2) + x1 * x1


cdef double _kth(const double* src, Py_ssize_t s, Py_ssize_t n, Py_ssize_t k,
                 double* w) noexcept nogil:
    """The k-th smallest (0-based) of ``src[0], src[s], .. src[(n - 1) s]`` (NaN-free,
    0 <= k < n; ``src`` is not modified; ``w``: scratch of 2 n doubles).  Quickselect whose
    partition writes each element to both ends of the other buffer and advances one end:
    no data-dependent branch per element (~2x faster than swapping in place, where about
    every other comparison is mispredicted), insertion sort once the range is short."""
    cdef const double* a = src
    cdef double* x_buf
    cdef double* y_buf
    cdef double* cur = NULL
    cdef double x0, x1, x2, p, x
    cdef Py_ssize_t nl, ng, i, j, eq, m, lt
    while n > 16:
        x0 = a[0]
        x1 = a[(n >> 1) * s]
        x2 = a[(n - 1) * s]
        if x0 < x1:
            p = x1 if x1 < x2 else (x2 if x0 < x2 else x0)
        else:
            p = x0 if x0 < x2 else (x2 if x1 < x2 else x1)
        # partition into the buffer not holding the data; the part above p into the other
        x_buf = w + n if cur == w else w
        y_buf = w if x_buf == w + n else w + n
        nl = 0
        ng = n
        for i in range(n):
            x = a[i * s]
            lt = x < p
            x_buf[nl] = x
            x_buf[ng - 1] = x
            nl += lt
            ng -= 1 - lt
        if k < nl:
            n = nl
            cur = x_buf
        else:
            eq = 0
            m = 0
            for i in range(nl, n):
                x = x_buf[i]
                eq += x == p
                y_buf[m] = x
                m += x > p
            if k < nl + eq:
                return p
            k -= nl + eq
            n = m
            cur = y_buf
        a = cur
        s = 1
    if cur == NULL:
        for i in range(n):
            w[i] = a[i * s]
        cur = w
    for i in range(1, n):
        x = cur[i]
        j = i - 1
        while j >= 0 and cur[j] > x:
            cur[j + 1] = cur[j]
            j -= 1
        cur[j + 1] = x
    return cur[k]


cdef double _median_s(const double* src, Py_ssize_t s, Py_ssize_t n, double* w) noexcept nogil:
    """``np.median`` of ``src[0], src[s], .. src[(n - 1) s]`` (NaN-free, n >= 1; ``w``:
    scratch of 2 n doubles): the middle element, or the mean of the two middle ones."""
    cdef Py_ssize_t h = n // 2, i, below = 0
    cdef double hi_v, lo_v = -INFINITY, x
    hi_v = _kth(src, s, n, h, w)
    if n % 2 == 1:
        return hi_v
    # the (h - 1)-th smallest: the largest element below hi_v, or hi_v itself if fewer
    # than h lie below it
    for i in range(n):
        x = src[i * s]
        if x < hi_v:
            below += 1
            lo_v = x if x > lo_v else lo_v
    if below < h:
        lo_v = hi_v
    return (lo_v + hi_v) / 2.0


cdef double _median_buf(double* v, Py_ssize_t n) noexcept nogil:
    """``np.median`` of ``v[:n]`` (NaN-free; n >= 1)."""
    cdef double stack[512]
    cdef double* w = &stack[0]
    cdef double out
    if n > 256:
        w = <double*> malloc(2 * n * sizeof(double))
    out = _median_s(v, 1, n, w)
    if n > 256:
        free(w)
    return out


cdef void _median3(const double[:, ::1] acc, Py_ssize_t a, Py_ssize_t b, double* out,
                   double* scratch) noexcept nogil:
    """``np.median(acc[a:b], axis=0)`` into ``out[0:3]``; ``scratch`` holds 2 (b - a)
    values."""
    cdef Py_ssize_t c
    for c in range(3):
        out[c] = _median_s(&acc[a, c], 3, b - a, scratch)


cdef Py_ssize_t _left(const double[::1] t, double v) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = t.shape[0], mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if t[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef Py_ssize_t _right(const double[::1] t, double v) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = t.shape[0], mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if t[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef double _angle_deg(const double* a, const double* b) noexcept nogil:
    cdef double dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    cdef double na = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
    cdef double nb = sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2])
    cdef double cosang = dot / max(na * nb, 1e-12)
    return acos(min(1.0, max(-1.0, cosang))) * _DEG


cdef double _cross(const double[::1] t, const double* y, Py_ssize_t i, double level) noexcept nogil:
    cdef double y0 = y[i], y1 = y[i + 1], frac
    if y1 == y0:
        return t[i + 1]
    frac = (level - y0) / (y1 - y0)
    frac = min(max(frac, 0.0), 1.0)
    return t[i] + frac * (t[i + 1] - t[i])


cdef double _refined_peak_c(const double* y, Py_ssize_t n, Py_ssize_t p) noexcept nogil:
    cdef double y0, y1, y2, curv, delta
    if not (0 < p < n - 1):
        return y[p]
    y0 = y[p - 1]; y1 = y[p]; y2 = y[p + 1]
    curv = y0 - 2.0 * y1 + y2
    if curv >= 0.0:
        return y1
    delta = min(max(0.5 * (y0 - y2) / curv, -0.5), 0.5)
    return y1 - 0.25 * (y0 - y2) * delta


def refined_peak(double[::1] y, Py_ssize_t p):
    """Height of the local maximum ``y[p]`` refined by a parabola through its neighbours: at
    low rates a brief lobe falls between samples, and its sampled peak understates it."""
    return _refined_peak_c(&y[0], y.shape[0], p)


cdef void _sosfilt(const double[:, ::1] sos, double* x, Py_ssize_t n, double* zi) noexcept nogil:
    """``scipy.signal.sosfilt`` in place on ``x`` (n, 3) row-major; ``zi`` (sections, 2, 3).
    Section by section over the whole signal (each section only sees its input sequence, so
    this equals sample by sample through all sections), with the state in registers."""
    cdef Py_ssize_t ns = sos.shape[0], c, i, s
    cdef double x_cur, x_new, b0, b1, b2, a1, a2, z0, z1
    for s in range(ns):
        b0 = sos[s, 0]; b1 = sos[s, 1]; b2 = sos[s, 2]; a1 = sos[s, 4]; a2 = sos[s, 5]
        for c in range(3):
            z0 = zi[6 * s + c]
            z1 = zi[6 * s + 3 + c]
            for i in range(n):
                x_cur = x[3 * i + c]
                x_new = b0 * x_cur + z0
                z0 = b1 * x_cur - a1 * x_new + z1
                z1 = b2 * x_cur - a2 * x_new
                x[3 * i + c] = x_new
            zi[6 * s + c] = z0
            zi[6 * s + 3 + c] = z1


cdef inline double _sq_seq(double x0, double x1, double x2) noexcept nogil:
    """``einsum("ij,ij->i")`` on a strided (column-major) array: sequential order."""
    return (x0 * x0 + x1 * x1) + x2 * x2


cdef void _bandpass_env2(const double[:, ::1] sos, const double[:, ::1] acc, double* z,
                         double[:, ::1] bp, double[::1] env) noexcept nogil:
    """``_sosfilt`` of two sections and the magnitude in one pass over the samples: the
    six recursions (2 sections x 3 axes) are independent chains the CPU overlaps, where
    section by section each axis waits on its own previous sample.  Same operations on
    every value, so the same bits."""
    cdef Py_ssize_t n = acc.shape[0], i
    cdef double b00 = sos[0, 0], b01 = sos[0, 1], b02 = sos[0, 2], a01 = sos[0, 4]
    cdef double a02 = sos[0, 5], b10 = sos[1, 0], b11 = sos[1, 1], b12 = sos[1, 2]
    cdef double a11 = sos[1, 4], a12 = sos[1, 5]
    # state: z[6 s + c] (first delay), z[6 s + 3 + c] (second) of section s, axis c
    cdef double p0 = z[0], p1 = z[1], p2 = z[2], q0 = z[3], q1 = z[4], q2 = z[5]
    cdef double r0 = z[6], r1 = z[7], r2 = z[8], u0 = z[9], u1 = z[10], u2 = z[11]
    cdef double x0, x1, x2, y0, y1, y2, v0, v1, v2
    for i in range(n):
        x0 = acc[i, 0]
        x1 = acc[i, 1]
        x2 = acc[i, 2]
        y0 = b00 * x0 + p0
        y1 = b00 * x1 + p1
        y2 = b00 * x2 + p2
        p0 = b01 * x0 - a01 * y0 + q0
        p1 = b01 * x1 - a01 * y1 + q1
        p2 = b01 * x2 - a01 * y2 + q2
        q0 = b02 * x0 - a02 * y0
        q1 = b02 * x1 - a02 * y1
        q2 = b02 * x2 - a02 * y2
        v0 = b10 * y0 + r0
        v1 = b10 * y1 + r1
        v2 = b10 * y2 + r2
        r0 = b11 * y0 - a11 * v0 + u0
        r1 = b11 * y1 - a11 * v1 + u1
        r2 = b11 * y2 - a11 * v2 + u2
        u0 = b12 * y0 - a12 * v0
        u1 = b12 * y1 - a12 * v1
        u2 = b12 * y2 - a12 * v2
        bp[i, 0] = v0
        bp[i, 1] = v1
        bp[i, 2] = v2
        env[i] = sqrt(_sq_seq(v0, v1, v2))  # sosfilt's output is strided
    z[0] = p0; z[1] = p1; z[2] = p2; z[3] = q0; z[4] = q1; z[5] = q2
    z[6] = r0; z[7] = r1; z[8] = r2; z[9] = u0; z[10] = u1; z[11] = u2


def bandpass_env(const double[:, ::1] sos, double[:, :, ::1] zi, const double[:, ::1] acc):
    """Band-pass (n, 3) ``acc`` with ``sos`` from state ``zi`` (sections, 2, 3; updated in
    place) and return the band-passed (n, 3) signal and its (n,) magnitude: ``sosfilt``
    then ``sqrt(einsum)``."""
    cdef Py_ssize_t n = acc.shape[0], i, c, ns = sos.shape[0]
    bp_arr = np.empty((n, 3))
    env_arr = np.empty(n)
    cdef double[:, ::1] bp = bp_arr
    cdef double[::1] env = env_arr
    cdef double* z = <double*> malloc(6 * ns * sizeof(double))
    for i in range(ns):
        for c in range(3):
            z[6 * i + c] = zi[i, 0, c]
            z[6 * i + 3 + c] = zi[i, 1, c]
    with nogil:
        if ns == 2:  # (the default band-pass: order 2 per edge)
            _bandpass_env2(sos, acc, z, bp, env)
        else:
            for i in range(n):
                for c in range(3):
                    bp[i, c] = acc[i, c]
            if n:
                _sosfilt(sos, &bp[0, 0], n, z)
            for i in range(n):
                env[i] = sqrt(_sq_seq(bp[i, 0], bp[i, 1], bp[i, 2]))
    for i in range(ns):
        for c in range(3):
            zi[i, 0, c] = z[6 * i + c]
            zi[i, 1, c] = z[6 * i + 3 + c]
    free(z)
    return bp_arr, env_arr


cdef double _impulse_ratio(const double[::1] t, const double[:, ::1] acc, const double* base,
                           double t0, double t1, const double[:, ::1] sos,
                           const double[:, ::1] zi_unit) noexcept nogil:
    """Share of the transient's energy above the high-pass ``sos`` (RMS ratio, 0..1) on
    ``acc - base``: ``sosfiltfilt`` (odd padding, ``padlen = min(21, n - 1)``), the first
    samples' power subtracted as noise."""
    cdef Py_ssize_t a = _left(t, t0 - 0.6)
    cdef Py_ssize_t i0 = _left(t, t0 - 0.05), i1 = _right(t, t1)
    cdef Py_ssize_t n, edge, m, i, c, s, k, q, ns
    cdef double *ext
    cdef double *rev
    cdef double *zi
    cdef double *hp2
    cdef double *d2
    cdef double noise_hp, noise_all, sig_hp, sig_all, v
    if i1 - a < 13 or i1 - i0 < 3:
        return 1.0
    n = i1 - a
    edge = min(21, n - 1)
    m = n + 2 * edge
    ns = sos.shape[0]
    ext = <double*> malloc(3 * m * sizeof(double))
    rev = <double*> malloc(3 * m * sizeof(double))
    zi = <double*> malloc(6 * ns * sizeof(double))
    hp2 = <double*> malloc(n * sizeof(double))
    d2 = <double*> malloc(n * sizeof(double))
    # seg = acc[a:i1] - base, oddly extended by edge samples on both sides.
    for c in range(3):
        for i in range(n):
            ext[3 * (edge + i) + c] = acc[a + i, c] - base[c]
        for k in range(edge):
            ext[3 * k + c] = 2.0 * ext[3 * edge + c] - ext[3 * (2 * edge - k) + c]
            ext[3 * (n + edge + k) + c] = (2.0 * ext[3 * (n + edge - 1) + c]
                                           - ext[3 * (n + edge - 2 - k) + c])
    for i in range(n):
        d2[i] = _sq(ext[3 * (edge + i)], ext[3 * (edge + i) + 1], ext[3 * (edge + i) + 2])
    for s in range(ns):
        for c in range(3):
            zi[6 * s + c] = zi_unit[s, 0] * ext[c]
            zi[6 * s + 3 + c] = zi_unit[s, 1] * ext[c]
    _sosfilt(sos, ext, m, zi)
    for i in range(m):
        for c in range(3):
            rev[3 * i + c] = ext[3 * (m - 1 - i) + c]
    for s in range(ns):
        for c in range(3):
            zi[6 * s + c] = zi_unit[s, 0] * ext[3 * (m - 1) + c]
            zi[6 * s + 3 + c] = zi_unit[s, 1] * ext[3 * (m - 1) + c]
    _sosfilt(sos, rev, m, zi)
    for i in range(n):
        q = 3 * (m - 1 - edge - i)
        hp2[i] = _sq_seq(rev[q], rev[q + 1], rev[q + 2])  # sosfiltfilt's output is strided
    k = i0 - a
    q = max(1, k - 3)
    noise_hp = _pairwise_sum(hp2, q) / q
    noise_all = _pairwise_sum(d2, q) / q
    m = i1 - i0
    sig_hp = max(_pairwise_sum(hp2 + k, n - k) - noise_hp * m, 0.0)
    sig_all = max(_pairwise_sum(d2 + k, n - k) - noise_all * m, 1e-12)
    free(ext); free(rev); free(zi); free(hp2); free(d2)
    v = sqrt(sig_hp / sig_all)
    return min(1.0, v)


cdef Py_ssize_t _window_medians(const double[::1] t, const double[:, ::1] acc, double t0,
                                double t1, double* out, Py_ssize_t cap,
                                double* scratch) noexcept nogil:
    """Median postures of the consecutive 0.5 s windows ending at ``t1`` back to ``t0``,
    oldest first, into ``out`` (rows of 3, at most ``cap``); windows with fewer than 3
    samples left out.  Returns how many."""
    cdef double step = -0.5, delta = (t1 + step) - t1, e
    cdef double stop = t0 - 1e-9
    cdef Py_ssize_t length = <Py_ssize_t> ceil((stop - t1) / step), i, k = 0, a, b
    cdef Py_ssize_t prev_idx = 0, idx, j
    if length < 0:
        length = 0
    # edges[j] = t1 + j * delta (j = 0, 1: t1, t1 + step); used oldest first.
    for i in range(length):
        j = length - 1 - i
        if j == 0:
            e = t1
        elif j == 1:
            e = t1 + step
        else:
            e = t1 + j * delta
        idx = _left(t, e)
        if i > 0:
            a = prev_idx
            b = idx
            if b - a >= 3 and k < cap:
                _median3(acc, a, b, out + 3 * k, scratch)
                k += 1
        prev_idx = idx
    return k


cdef double _pre_onset_drift(const double[::1] t, const double[:, ::1] acc, double onset,
                             double* scratch) noexcept nogil:
    cdef Py_ssize_t a = _left(t, onset - 1.4), b = _left(t, onset - 0.9), q, i, j
    cdef double ref[3]
    cdef double m[3]
    cdef Py_ssize_t idx[4]
    cdef double out = 0.0, d0, d1, d2
    if b - a < 3:
        return 0.0
    _median3(acc, a, b, ref, scratch)
    idx[0] = _left(t, onset - 0.45)
    idx[1] = _left(t, onset - 0.3)
    idx[2] = _left(t, onset - 0.15)
    idx[3] = _left(t, onset - 0.03)
    for q in range(3):
        i = idx[q]
        j = idx[q + 1]
        if j > i:
            _median3(acc, i, j, m, scratch)
            d0 = m[0] - ref[0]; d1 = m[1] - ref[1]; d2 = m[2] - ref[2]
            out = max(out, sqrt(d0 * d0 + d1 * d1 + d2 * d2))
    return out


cdef Py_ssize_t _clipped_count(const double[:, ::1] acc, Py_ssize_t a, Py_ssize_t b,
                               double clip_g, double rail) noexcept nogil:
    cdef Py_ssize_t n = b - a, cnt = 0, i, c
    cdef bint hit, same
    if n <= 0:
        return 0
    if not isnan(clip_g):
        for i in range(a, b):
            if fabs(acc[i, 0]) >= clip_g or fabs(acc[i, 1]) >= clip_g or fabs(acc[i, 2]) >= clip_g:
                cnt += 1
        return cnt
    if n < 2:
        return 0
    for i in range(a, b):
        hit = False
        for c in range(3):
            same = False
            if i > a and fabs(acc[i, c] - acc[i - 1, c]) <= 1e-9:
                same = True
            if i < b - 1 and fabs(acc[i + 1, c] - acc[i, c]) <= 1e-9:
                same = True
            if same and fabs(acc[i, c]) >= rail:
                hit = True
        if hit:
            cnt += 1
    return cnt


# ---------------------------------------------------------------- wake activity
cdef void _side_counts(const double[::1] env, const unsigned char* keep, Py_ssize_t a,
                       Py_ssize_t b, double env_g, Py_ssize_t* out) noexcept nogil:
    """Over ``env[a:b]``: samples above ``env_g``, kept ones, kept ones above, into out[0:3]."""
    cdef Py_ssize_t q, up, hi = 0, kp = 0, both = 0
    for q in range(a, b):
        up = env[q] > env_g
        hi += up
        kp += keep[q]
        both += up & keep[q]
    out[0] = hi
    out[1] = kp
    out[2] = both


cdef void _brief_cover(const double[::1] t, const double[:, ::1] rec, double tf,
                       unsigned char* keep) noexcept nogil:
    """``activity._between_brief_bursts``: keep[q] = 0 where ``t[q]`` lies within a brief
    other burst (<= 0.5 s, from 0.1 s before it to 0.5 s after: its ringing)."""
    cdef Py_ssize_t n = t.shape[0], r, q, lo, hi
    cdef double fr, er
    for q in range(n):
        keep[q] = 1
    for r in range(rec.shape[0]):
        fr = rec[r, 0]
        er = rec[r, 1]
        if er - fr <= 0.5 and fr != tf:
            lo = _left(t, fr - 0.1)
            hi = _right(t, er + 0.5)
            for q in range(lo, hi):
                keep[q] = 0


cdef double _side_fraction(Py_ssize_t size, const Py_ssize_t* c) noexcept nogil:
    """``activity._active_fraction`` from the counts of ``_side_counts``."""
    if <double> c[1] >= 0.5 * <double> size:
        return <double> c[2] / <double> c[1]
    return <double> c[0] / <double> size


cdef void _activity(const double[::1] t, const double[::1] env, const double[:, ::1] rec,
                    double tf, double tl, double w, double env_g, double min_fraction,
                    double rate, double* out) noexcept nogil:
    """The rest test of ``activity.movement_context``, exactly: out[0] = the active
    fraction (NaN: too little signal to judge, i.e. rest), out[1] = 1.0 when the burst
    ends a reach, else 0.0.  ``rec``: (first, last) of the bursts nearby."""
    cdef Py_ssize_t n = t.shape[0]
    cdef Py_ssize_t a0 = _left(t, tf - w), a1 = _left(t, tf - 0.3)
    cdef Py_ssize_t b0 = _left(t, tl + 0.6), b1 = _left(t, tl + w)
    cdef Py_ssize_t l0, l1, nb, na, nl, need = <Py_ssize_t> (0.5 * w * rate)
    cdef Py_ssize_t cb[3]
    cdef Py_ssize_t ca[3]
    cdef Py_ssize_t cl[3]
    cdef double f_before = 0.0, f_after = 0.0, frac, hi_f, lo_f
    cdef unsigned char* keep
    out[1] = 0.0
    nb = a1 - a0 if a1 > a0 else 0
    na = b1 - b0 if b1 > b0 else 0
    if nb < need and na < need:
        out[0] = NAN
        return
    keep = <unsigned char*> malloc((n + 1) * sizeof(unsigned char))
    _brief_cover(t, rec, tf, keep)
    if nb >= need and nb > 0:
        _side_counts(env, keep, a0, a1, env_g, cb)
        if cb[0]:
            f_before = _side_fraction(nb, cb)
    if na >= need and na > 0:
        _side_counts(env, keep, b0, b1, env_g, ca)
        if ca[0]:
            f_after = _side_fraction(na, ca)
    # max(min(fb, fa), max(fb, fa) - min_fraction), as Python's min and max pick
    lo_f = f_after if f_after < f_before else f_before
    hi_f = f_after if f_after > f_before else f_before
    hi_f = hi_f - min_fraction
    frac = hi_f if hi_f > lo_f else lo_f
    l0 = _left(t, tf - 1.0)
    l1 = _left(t, tf - 0.05)
    nl = l1 - l0 if l1 > l0 else 0
    if nl > 0:
        _side_counts(env, keep, l0, l1, env_g, cl)
        if (<double> cl[0] / <double> nl >= 0.9 and <double> cl[1] >= 0.5 * <double> nl
                and <double> cl[2] >= 0.9 * <double> cl[1]):
            frac = min_fraction if min_fraction > frac else frac
            out[1] = 1.0
    free(keep)
    out[0] = frac


def activity_fraction(const double[::1] t, const double[::1] env, const double[:, ::1] others,
                      double t_first, double t_last, double window_s, double env_g,
                      double min_fraction, double rate_hz):
    """The rest test of ``activity.movement_context`` (see there): (active fraction, NaN
    when there is too little signal to judge; whether the burst ends a reach)."""
    cdef double out[2]
    if t.shape[0] != env.shape[0]:
        raise ValueError("t and env differ in length")
    _activity(t, env, others, t_first, t_last, window_s, env_g, min_fraction, rate_hz, out)
    return out[0], out[1] != 0.0


# ---------------------------------------------------------------- one burst
def burst_features(
    const double[::1] bt, const double[:, ::1] bacc, const double[::1] benv,
    const double[::1] bfloor, const unsigned char[::1] bfill,
    const double[:, ::1] rec,
    double tf, double tl, double peak_env, double t_seg_lo, double t_seg_hi,
    const double[::1] prm, const double[:, ::1] sos_hf, const double[:, ::1] zi_hf,
):
    """Features of the burst [``tf``, ``tl``] s for the detector's rules.

    Args:
        bt, bacc, benv, bfloor, bfill: the detector's buffers (n,) s, (n, 3) g, (n,) g,
            (n,) g, (n,) filled mask (as uint8).
        rec: (k, 2) first/last times of recent bursts (last = inf while open).
        peak_env: the burst's peak envelope, g.  t_seg_lo/t_seg_hi: its segment's first
            and last sample times (inf while the segment is open).
        prm: parameter vector (``P_*``).  sos_hf, zi_hf: the impulse high-pass and its
            ``sosfilt_zi``.

    Returns:
        (stage, features): a list of floats (``F_*``), valid up to ``stage`` (``S_*``).
    """
    cdef double f[CN_FEATURES]
    cdef Py_ssize_t stage = _features(bt, bacc, benv, bfloor, bfill, rec, tf, tl,
                                      peak_env, t_seg_lo, t_seg_hi, prm, sos_hf, zi_hf, f)
    return stage, [f[i] for i in range(CN_FEATURES)]


cdef Py_ssize_t _features(
    const double[::1] bt, const double[:, ::1] bacc, const double[::1] benv,
    const double[::1] bfloor, const unsigned char[::1] bfill,
    const double[:, ::1] rec,
    double tf, double tl, double peak_env, double t_seg_lo, double t_seg_hi,
    const double[::1] prm, const double[:, ::1] sos_hf, const double[:, ::1] zi_hf,
    double* f,
) noexcept nogil:
    cdef Py_ssize_t i, k, q, a, b, r, p, nw, wa, wb, neighbours, j0, last, k_hi, cnt, ns
    cdef Py_ssize_t nrec = rec.shape[0], n
    cdef double floor_, thr, rate, win0, win1, fr, er, mx, ref, w_end, d0, d1, d2, mmax
    cdef double peak, lvl_lo, lvl_hi, t_lo, t_hi, slope_span, onset, t_end, lim, t_strong_end
    cdef double tilt, settle, turn, pj, dt, a0, a1, bad, sigma1, prev_end
    cdef Py_ssize_t tr
    cdef double base[3]
    cdef double post[3]
    cdef double tmp3[3]
    cdef Py_ssize_t hop_n
    cdef bint any_filled, hit
    cdef const double[::1] t
    cdef const double[::1] tw
    cdef const double[:, ::1] acc
    cdef const double[::1] env
    cdef const unsigned char[::1] filled
    cdef double *scratch
    cdef double *mag
    cdef double *back
    cdef double *postures
    cdef double *after
    cdef double *steps
    cdef unsigned char *quiet
    cdef Py_ssize_t n_post, n_after, cap, pa, pb

    for i in range(CN_FEATURES):
        f[i] = NAN
    i = _left(bt, max(tf - prm[CP_LOOK_BACK], t_seg_lo))
    k = _right(bt, min(tl + prm[CP_LOOK_AHEAD], t_seg_hi))
    t = bt[i:k]
    acc = bacc[i:k]
    env = benv[i:k]
    filled = bfill[i:k]
    n = k - i
    floor_ = bfloor[_left(bt, tf)]
    thr = max(prm[CP_MIN_THRESHOLD], prm[CP_THRESHOLD_FACTOR] * floor_)
    f[CF_FLOOR] = floor_
    f[CF_THR] = thr
    rate = prm[CP_RATE]

    # Neighbouring bursts of comparable size.
    win0 = tf - prm[CP_NEIGHBOUR_WINDOW]
    win1 = tl + prm[CP_NEIGHBOUR_WINDOW]
    neighbours = 0
    for r in range(nrec):
        fr = rec[r, 0]
        er = rec[r, 1]
        if fr != tf and fr <= win1 and er >= win0:
            a = _left(t, max(fr, win0))
            b = _right(t, min(er, win1))
            if b > a:
                mx = env[a]
                for q in range(a + 1, b):
                    mx = max(mx, env[q])
                if mx >= 0.25 * peak_env:
                    neighbours += 1
    f[CF_NEIGHBOURS] = neighbours
    f[CF_WIN0] = i
    f[CF_WIN1] = k
    _activity(t, env, rec, tf, tl, prm[CP_ACT_WINDOW], prm[CP_ACT_ENV],
              prm[CP_ACT_MIN_FRACTION], rate, &f[CF_ACTIVE])

    scratch = <double*> malloc((2 * n + 2) * sizeof(double))
    quiet = <unsigned char*> malloc((n + 1) * sizeof(unsigned char))
    # Quiet context before and after (other brief bursts and their tails left out).
    for q in range(n):
        quiet[q] = 1
    for r in range(nrec):
        fr = rec[r, 0]
        er = rec[r, 1]
        if fr != tf and er - fr <= prm[CP_MAX_BURST] and er >= t[0] and fr <= t[n - 1]:
            a = _left(t, fr - 0.1)
            b = _right(t, er + 0.6)
            for q in range(a, b):
                quiet[q] = 0
    ref = max(floor_, 1e-4)
    for r in range(2):
        if r == 0:
            a = _left(t, tf - prm[CP_PRE_CONTEXT])
            b = _right(t, tf - 0.2)
        else:
            a = _left(t, tl + 0.2)
            b = _right(t, tl + prm[CP_POST_CONTEXT])
        cnt = 0
        for q in range(a, b):
            if quiet[q]:
                scratch[cnt] = env[q]
                cnt += 1
        f[CF_PRE_RATIO + r] = _median_buf(scratch, cnt) / ref if cnt else 0.0
    free(quiet)

    # Baseline posture just before the burst; noise level there.
    a = _left(t, max(tf - 0.6, t_seg_lo))
    b = _right(t, tf - 0.15)
    if b - a < 3 or t[b - 1] - t[a] < 0.15:
        free(scratch)
        return CS_BASE_SHORT
    _median3(acc, a, b, base, scratch)
    # Noise level: leave out the lobes of earlier brief bursts (the previous jerk of a
    # series 0.3-0.6 s before is not noise); from the floor if nothing else is left.
    cnt = 0
    for q in range(a, b):
        hit = False
        for r in range(nrec):
            fr = rec[r, 0]
            er = rec[r, 1]
            if fr < tf and er - fr <= prm[CP_MAX_BURST] and fr - 0.05 <= t[q] <= er + 0.15:
                hit = True
                break
        if not hit:
            scratch[cnt] = _sq(acc[q, 0] - base[0], acc[q, 1] - base[1], acc[q, 2] - base[2])
            cnt += 1
    if cnt >= 3:
        sigma1 = max(sqrt(_pairwise_sum(scratch, cnt) / cnt / 3.0), 1e-4)
    else:
        sigma1 = max(floor_ / 1.6, 1e-4)
    f[CF_SIGMA1] = sigma1

    # Deviation from the baseline, up to the next burst.
    w_end = tl + prm[CP_MAX_LOBE]
    for r in range(nrec):
        if tl < rec[r, 0] < w_end:
            w_end = rec[r, 0] - 0.1
    # Not back into an earlier brief burst (a series' previous jerk): from where it ended.
    prev_end = tf - 0.35
    for r in range(nrec):
        if rec[r, 1] < tf and rec[r, 1] - rec[r, 0] <= prm[CP_MAX_BURST]:
            prev_end = max(prev_end, rec[r, 1])
    wa = _left(t, min(prev_end, tf - 0.05))
    wb = _right(t, w_end)
    nw = wb - wa
    if nw < 3:  # (the next burst follows at once: no lobe of its own to measure)
        free(scratch)
        return CS_NO_LOBE
    tw = t[wa:wb]
    mag = <double*> malloc((nw + 1) * sizeof(double))
    back = <double*> malloc((nw + 1) * sizeof(double))
    for q in range(nw):
        mag[q] = sqrt(_sq(acc[wa + q, 0] - base[0], acc[wa + q, 1] - base[1],
                          acc[wa + q, 2] - base[2]))
    mmax = mag[0]
    for q in range(1, nw):
        mmax = max(mmax, mag[q])
    p = 0
    while mag[p] < 0.6 * mmax:
        p += 1
    while p + 1 < nw and mag[p + 1] > mag[p]:
        p += 1
    peak = mag[p]
    f[CF_PEAK] = peak
    f[CF_PEAK_REFINED] = _refined_peak_c(mag, nw, p)
    lvl_lo = max(0.15 * peak, 3.0 * sigma1)
    lvl_hi = max(0.35 * peak, 4.5 * sigma1)
    if lvl_hi >= 0.95 * peak:
        free(scratch); free(mag); free(back)
        return CS_NO_LOBE
    # Walk back from the peak along the lobe, hopping over a dip of a biphasic jerk.
    i = p
    hop_n = <Py_ssize_t> prm[CP_HOP_N]
    while True:
        while i > 0 and mag[i - 1] >= lvl_lo:
            i -= 1
        j0 = max(0, i - hop_n)
        last = -1
        for q in range(j0, i):
            if mag[q] >= lvl_hi:
                last = q
        if last < 0:
            break
        i = last
    if i == 0 and prev_end > tf - 0.35:
        # Rising from the previous jerk's tail: the levels count from the trough between.
        tr = 0
        for q in range(1, p):
            if mag[q] < mag[tr]:
                tr = q
        if mag[tr] < 0.5 * peak:
            lvl_lo = mag[tr] + max(0.15 * (peak - mag[tr]), 3.0 * sigma1)
            lvl_hi = mag[tr] + max(0.35 * (peak - mag[tr]), 4.5 * sigma1)
            if lvl_hi < 0.95 * peak:
                i = p
                while i > tr + 1 and mag[i - 1] >= lvl_lo:
                    i -= 1
                if mag[i - 1] >= lvl_lo:
                    i = 0
    if i == 0:
        free(scratch); free(mag); free(back)
        return CS_NO_ONSET
    k_hi = i
    while mag[k_hi] < lvl_hi:
        k_hi += 1
    t_lo = _cross(tw, mag, i - 1, lvl_lo)
    t_hi = _cross(tw, mag, k_hi - 1, lvl_hi)
    slope_span = max(t_hi - t_lo, 0.0)
    onset = t_lo - slope_span * lvl_lo / (lvl_hi - lvl_lo)
    onset = min(max(max(onset, t_lo - 1.5 / rate), t_lo - 0.05), t_lo)
    f[CF_ONSET] = onset
    f[CF_DRIFT] = _pre_onset_drift(t, acc, onset, scratch)

    # End of the peak's lobe: back near the posture before, or settled in a new one.
    pa = _left(t, tl + 0.2)
    pb = _right(t, tl + 0.7)
    for q in range(nw):
        back[q] = mag[q]
    if pb - pa >= 3:
        _median3(acc, pa, pb, post, scratch)
        for q in range(nw):
            back[q] = min(mag[q], sqrt(_sq(acc[wa + q, 0] - post[0], acc[wa + q, 1] - post[1],
                                           acc[wa + q, 2] - post[2])))
    k = p
    while k + 1 < nw and back[k + 1] >= lvl_lo:
        k += 1
    t_end = _cross(tw, back, k, lvl_lo) if k + 1 < nw else tw[k]
    f[CF_T_END] = t_end
    f[CF_T_PEAK] = tw[p]

    # Filled signal may carry the filters but never a jerk.
    bad = 0.0
    any_filled = False
    for q in range(n):
        if filled[q]:
            any_filled = True
            break
    if any_filled:
        a = _left(t, onset - 0.05)
        b = _right(t, onset + 0.05)
        for q in range(a, b):
            if filled[q]:
                bad = 1.0
        a = _left(t, onset)
        b = _right(t, t_end)
        if b > a:
            cnt = 0
            for q in range(a, b):
                if filled[q]:
                    cnt += 1
            if <double> cnt / <double> (b - a) > 0.5:
                bad = 1.0
    f[CF_FILLED_BAD] = bad

    # Envelope above 20 % of its peak: lobe plus ringing.
    a = _left(t, tf)
    b = _right(t, tl)
    lim = max(thr, 0.2 * peak_env)
    t_strong_end = tl
    q = b - 1
    while q >= a:
        if env[q] >= lim:
            t_strong_end = t[q]
            break
        q -= 1
    f[CF_T_STRONG_END] = t_strong_end
    cnt = 0
    for q in range(nw):
        if mag[q] >= 0.25 * peak:
            cnt += 1
    f[CF_SPIKE_COUNT] = cnt

    # Posture after the burst, and further out (the arm landing inside a turn).  The first
    # window is the lobe's end window above: its median is reused.
    tilt = 0.0
    if pb - pa >= 3:
        tilt = _angle_deg(base, post)
    for q in range(1, 3):
        if q == 1:
            a0 = tl + prm[CP_POST_CONTEXT] - 0.6
            a1 = tl + prm[CP_POST_CONTEXT]
        else:
            a0 = tf - prm[CP_PRE_CONTEXT]
            a1 = tf - prm[CP_PRE_CONTEXT] + 0.6
        a = _left(t, a0)
        b = _right(t, a1)
        if b - a >= 3:
            _median3(acc, a, b, tmp3, scratch)
            tilt = max(tilt, _angle_deg(base, tmp3))
    f[CF_TILT] = tilt
    cap = <Py_ssize_t> (2.0 * (prm[CP_SETTLE_WINDOW] + 2.0)) + 4
    postures = <double*> malloc(3 * cap * sizeof(double))
    after = <double*> malloc(3 * cap * sizeof(double))
    steps = <double*> malloc(cap * sizeof(double))
    n_post = _window_medians(t, acc, tf - prm[CP_SETTLE_WINDOW], tf - 0.6, postures, cap, scratch)
    settle = 0.0
    for q in range(n_post):
        settle = max(settle, _angle_deg(base, postures + 3 * q))
    f[CF_SETTLE] = settle

    f[CF_HF] = _impulse_ratio(t, acc, base, onset, t_end + 0.5, sos_hf, zi_hf)
    if f[CF_HF] < prm[CP_AMBIGUOUS_IMPULSE]:  # (NaN otherwise: the rule does not look)
        n_after = _window_medians(t, acc, t_end + 0.5, tl + prm[CP_SETTLE_WINDOW], after, cap,
                                  scratch)
        turn = 0.0
        for q in range(n_after):
            turn = max(turn, _angle_deg(base, after + 3 * q))
        f[CF_TURN] = turn
    ns = max(n_post - 1, 0)
    f[CF_N_STEPS] = ns
    if ns >= 4:
        for q in range(ns):
            steps[q] = _angle_deg(postures + 3 * q, postures + 3 * (q + 1))
        f[CF_PRE_STEP] = max(steps[ns - 3], max(steps[ns - 2], steps[ns - 1]))
        f[CF_PRE_STEP_TYP] = _median_buf(steps, ns)
    free(postures); free(after); free(steps)

    a = _left(t, onset)
    b = _right(t, tl)
    f[CF_CLIP_N] = _clipped_count(acc, a, b, prm[CP_CLIP_G], prm[CP_RAIL_MIN_G])

    a = _left(t, onset)
    b = _right(t, t_end + 1.0 / rate)
    pj = 0.0
    if b - a >= 2:
        pj = -INFINITY
        for q in range(a, b - 1):
            dt = t[q + 1] - t[q]
            d0 = (acc[q + 1, 0] - acc[q, 0]) / dt
            d1 = (acc[q + 1, 1] - acc[q, 1]) / dt
            d2 = (acc[q + 1, 2] - acc[q, 2]) / dt
            pj = max(pj, sqrt(_sq(d0, d1, d2)))
    f[CF_PEAK_JERK] = pj
    free(scratch); free(mag); free(back)
    return CS_DONE



# ---------------------------------------------------------------- input
def scan_chunk(const double[::1] t, const double[:, ::1] acc, double max_abs_t,
               double max_abs_acc):
    """One pass over an input chunk, t (n,) s and acc (n, 3) g (n >= 1): (the times are
    all within +-``max_abs_t`` (so finite) and increasing; every acc value lies within
    +-``max_abs_acc`` (so none is NaN); the largest time step, s (-inf for one sample))."""
    cdef Py_ssize_t n = t.shape[0], m = 3 * n, i
    cdef const double* a = &acc[0, 0]
    cdef double step = -INFINITY, d, v
    cdef Py_ssize_t bad_a = 0, bad_t = 0
    with nogil:
        # (fabs(NaN) <= x is false: a NaN counts as out of range)
        for i in range(m):
            bad_a += not (fabs(a[i]) <= max_abs_acc)
        bad_t = not (fabs(t[0]) <= max_abs_t)
        for i in range(1, n):
            v = t[i]
            d = v - t[i - 1]
            bad_t += (not (fabs(v) <= max_abs_t)) | (not (v > t[i - 1]))
            step = d if d > step else step
    return bad_t == 0, bad_a == 0, step


def fill_gaps(const double[::1] t, const double[:, ::1] acc, double prev_t,
              const double[::1] prev_acc, bint has_prev, double lo, double hi, double rate_hz):
    """``JerkDetector._fill_short_gaps`` past its quick test, exactly, in one copy: the
    steps of ``t`` (n,) (after the previous sample ``prev_t``, ``prev_acc`` (3,) when
    ``has_prev``) longer than ``lo`` and at most ``hi`` s are filled with
    ``max(round(step * rate_hz) - 1, 1)`` samples on the straight line between the two
    samples (at fractions j / (k + 1), as NumPy computes them).  Returns (t (m,), acc (m, 3),
    filled (m,) bool), without the previous sample itself."""
    cdef Py_ssize_t n = t.shape[0], i, j, c, m = n, k, o = 0, ng = 0, q, src = 0
    cdef double t0, d, fr
    cdef const double* a0
    # where the gaps are: before sample gap_at[q], gap_k[q] samples long (a few per block:
    # on the stack, else in a buffer once counted)
    cdef Py_ssize_t stack_at[256]
    cdef Py_ssize_t stack_k[256]
    cdef Py_ssize_t* gap_at = stack_at
    cdef Py_ssize_t* gap_k = stack_k
    cdef Py_ssize_t first = 0 if has_prev else 1, cap = 256, r
    for r in range(2):
        ng = 0
        m = n
        with nogil:
            for i in range(first, n):
                d = t[i] - (prev_t if i == 0 else t[i - 1])
                if lo < d <= hi:
                    k = <Py_ssize_t> rint(d * rate_hz) - 1  # (rint: half to even, as round)
                    k = k if k > 1 else 1
                    if ng < cap:
                        gap_at[ng] = i
                        gap_k[ng] = k
                    ng += 1
                    m += k
        if ng <= cap:
            break
        cap = ng
        gap_at = <Py_ssize_t*> malloc(cap * sizeof(Py_ssize_t))
        gap_k = <Py_ssize_t*> malloc(cap * sizeof(Py_ssize_t))
    t_arr = np.empty(m)
    acc_arr = np.empty((m, 3))
    mask_arr = np.zeros(m, dtype=np.bool_)
    cdef double[::1] tov = t_arr
    cdef double[:, ::1] aov = acc_arr
    cdef unsigned char[::1] mov = mask_arr.view(np.uint8)
    cdef double* to = &tov[0]  # (m >= n >= 1)
    cdef double* ao = &aov[0, 0]
    cdef unsigned char* mo = &mov[0]
    with nogil:
        for q in range(ng + 1):
            i = gap_at[q] if q < ng else n
            # the input samples up to the gap, then the gap's own
            if i > src:
                memcpy(to + o, &t[src], (i - src) * sizeof(double))
                memcpy(ao + 3 * o, &acc[src, 0], 3 * (i - src) * sizeof(double))
            o += i - src
            src = i
            if q == ng:
                break
            t0 = prev_t if i == 0 else t[i - 1]
            a0 = &prev_acc[0] if i == 0 else &acc[i - 1, 0]
            d = t[i] - t0
            k = gap_k[q]
            for j in range(1, k + 1):
                fr = <double> j / <double> (k + 1)
                to[o] = t0 + fr * d
                for c in range(3):
                    ao[3 * o + c] = a0[c] + fr * (acc[i, c] - a0[c])
                mo[o] = 1
                o += 1
    if gap_at != stack_at:
        free(gap_at)
        free(gap_k)
    return t_arr, acc_arr, mask_arr


# ---------------------------------------------------------------- bursts
def supra_runs(const double[::1] env, const double[::1] floor_, double min_thr, double factor,
               Py_ssize_t merge_n):
    """The detector's threshold and its runs in one pass: above (n,) bool =
    ``env > np.maximum(min_thr, factor * floor_)``, and the groups of supra-threshold
    samples at most ``merge_n`` apart: (above, [(first, last, peak)] per group, peak the
    envelope's maximum over first..last)."""
    cdef Py_ssize_t n = env.shape[0], i, last = -1, first = -1
    cdef double th
    above_arr = np.empty(n, dtype=np.bool_)
    cdef unsigned char[::1] above = above_arr.view(np.uint8)
    cdef list groups = []
    for i in range(n):
        th = factor * floor_[i]
        th = min_thr if min_thr > th else th
        above[i] = env[i] > th
        if above[i]:
            if first >= 0 and i - last > merge_n:
                groups.append((first, last, _span_max(env, first, last)))
                first = -1
            if first < 0:
                first = i
            last = i
    if first >= 0:
        groups.append((first, last, _span_max(env, first, last)))
    return above_arr, groups


cdef double _span_max(const double[::1] x, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    cdef double mx = x[a]
    cdef Py_ssize_t q
    for q in range(a + 1, b + 1):
        mx = x[q] if x[q] > mx else mx
    return mx


# ---------------------------------------------------------------- fixed windows
def window_runs(const double[::1] t, double length_s):
    """``detector.windows.window_runs``, exactly (each ``t[i] / length_s`` is the same
    division NumPy does, computed where it is looked at instead of into an array):
    (starts (m,) int64, index (m,) int64)."""
    cdef Py_ssize_t n = t.shape[0], m = 0, i, lo, hi, mid, cap
    cdef double k0 = floor(t[0] / length_s), k1 = floor(t[n - 1] / length_s), k, prev, w
    if k1 - k0 <= <double> n:
        cap = <Py_ssize_t> (k1 - k0) + 1
    else:
        cap = n
    starts_arr = np.empty(cap, dtype=np.int64)
    index_arr = np.empty(cap, dtype=np.int64)
    cdef long[::1] starts = starts_arr
    cdef long[::1] index = index_arr
    with nogil:
        starts[0] = 0
        m = 1
        if k1 - k0 <= <double> n:
            # the first sample of each window by binary search (floor(x) >= k iff x >= k)
            lo = 0
            k = k0 + 1.0
            while k <= k1:
                hi = n
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if t[mid] / length_s < k:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo != starts[m - 1]:  # (windows without samples share a start)
                    starts[m] = lo
                    m += 1
                k += 1.0
        else:
            prev = k0
            for i in range(1, n):
                w = floor(t[i] / length_s)
                if w != prev:
                    starts[m] = i
                    m += 1
                prev = w
        for i in range(m):
            index[i] = <long> floor(t[starts[i]] / length_s)
    return starts_arr[:m], index_arr[:m]


# ---------------------------------------------------------------- noise floor
def noise_floors(const double[::1] env, const double[::1] partial, const double[::1] meds,
                 double floor_, Py_ssize_t bn, Py_ssize_t h):
    """One step of the detector's noise floor (``_NoiseFloor.update``), exactly: per-block
    upper medians of ``env`` (blocks of ``bn`` samples counted across calls; ``partial``
    holds the unfinished block), and after each completed block the median of the last
    ``h`` block medians (``np.median`` of fewer while the stream is younger).

    Returns (out (n,) floor in force at each sample, new partial, new meds (last <= h),
    new floor).  Assumes ``env.size >= bn - partial.size`` (a block completes)."""
    cdef Py_ssize_t n = env.shape[0], np_ = partial.shape[0], need = bn - np_
    cdef Py_ssize_t rest = n - need, full = rest // bn, nm = full + 1
    cdef Py_ssize_t tail_n = min(meds.shape[0], h - 1) if h > 1 else 0
    cdef Py_ssize_t na = tail_n + nm, i, j, k, n_early
    out_arr = np.empty(n)
    allm_arr = np.empty(na)
    cdef double[::1] out = out_arr
    cdef double[::1] allm = allm_arr
    cdef double* buf = <double*> malloc((max(bn, h) + 1) * sizeof(double))
    cdef double* work = <double*> malloc((2 * max(bn, h) + 2) * sizeof(double))
    cdef double* floors = <double*> malloc((nm + 1) * sizeof(double))
    cdef Py_ssize_t nf = 0
    with nogil:
        for i in range(tail_n):
            allm[i] = meds[meds.shape[0] - tail_n + i]
        # the block completed by this chunk, then the full ones (upper medians)
        for i in range(np_):
            buf[i] = partial[i]
        for i in range(need):
            buf[np_ + i] = env[i]
        allm[tail_n] = _kth(buf, 1, bn, bn // 2, work)
        for j in range(full):
            allm[tail_n + 1 + j] = _kth(&env[need + j * bn], 1, bn, bn // 2, work)
        n_early = min(nm, h - 1 - tail_n)
        for i in range(n_early):  # only while the stream is younger than h blocks
            k = tail_n + i + 1
            floors[nf] = _median_s(&allm[0], 1, k, work)
            nf += 1
        if na >= h:
            for i in range(na - h + 1):
                floors[nf] = _kth(&allm[i], 1, h, h // 2, work)
                nf += 1
        for i in range(need):
            out[i] = floor_
        for j in range(full):
            for i in range(bn):
                out[need + j * bn + i] = floors[j]
        for i in range(need + full * bn, n):
            out[i] = floors[nf - 1]
    new_floor = floors[nf - 1]
    free(buf)
    free(work)
    free(floors)
    keep = min(na, h)
    return (out_arr, np.array(env[need + full * bn:], dtype=np.float64),
            allm_arr[na - keep:].copy(), float(new_floor))


# ---------------------------------------------------------------- wear
cdef void _pw3(const double* a, Py_ssize_t n, double* s1, double* s2) noexcept nogil:
    """``_pairwise_sum`` of each column of the row-major (n, 3) ``a`` into ``s1[0:3]`` and of
    its squares into ``s2[0:3]``: the three columns' summation trees are the same, so their
    8 accumulators each sit side by side as 24 consecutive doubles, added row block by row
    block (a contiguous, vectorisable loop, and one pass over the data)."""
    cdef Py_ssize_t i, k, c, n2, stop
    cdef double r[24]
    cdef double q[24]
    cdef double u1[3]
    cdef double u2[3]
    cdef double v
    if n < 8:
        for c in range(3):
            s1[c] = -0.0
            s2[c] = -0.0
        for i in range(n):
            for c in range(3):
                v = a[3 * i + c]
                s1[c] += v
                s2[c] += v * v
        return
    if n <= 128:
        for k in range(24):
            r[k] = a[k]
            q[k] = a[k] * a[k]
        i = 8
        stop = n - (n % 8)
        while i < stop:
            for k in range(24):
                r[k] += a[3 * i + k]
                q[k] += a[3 * i + k] * a[3 * i + k]
            i += 8
        for c in range(3):
            s1[c] = (((r[c] + r[3 + c]) + (r[6 + c] + r[9 + c]))
                     + ((r[12 + c] + r[15 + c]) + (r[18 + c] + r[21 + c])))
            s2[c] = (((q[c] + q[3 + c]) + (q[6 + c] + q[9 + c]))
                     + ((q[12 + c] + q[15 + c]) + (q[18 + c] + q[21 + c])))
        while i < n:
            for c in range(3):
                v = a[3 * i + c]
                s1[c] += v
                s2[c] += v * v
            i += 1
        return
    n2 = n // 2
    n2 -= n2 % 8
    _pw3(a, n2, s1, s2)
    _pw3(a + 3 * n2, n - n2, u1, u2)
    for c in range(3):
        s1[c] = s1[c] + u1[c]
        s2[c] = s2[c] + u2[c]


def minute_stats(const double[:, ::1] acc, const long[::1] starts):
    """Per-window statistics of ``acc`` (n, 3) g over the windows beginning at ``starts``
    (m,) (increasing, first 0; the last window runs to n): a (m, 13) array of rows
    (count, sum (3), sum of squares (3), min (3), max (3)), each equal to the
    ``np.add.reduceat`` / ``np.minimum.reduceat`` / ``np.maximum.reduceat`` of the same
    (which add the first element to the pairwise sum of the rest)."""
    cdef Py_ssize_t n = acc.shape[0], m = starts.shape[0], j, a, b, c, i
    out_arr = np.empty((m, 13))
    cdef double[:, ::1] out = out_arr
    cdef const double* p
    cdef double s1[3]
    cdef double s2[3]
    cdef double lo[3]
    cdef double hi[3]
    cdef double v
    if n == 0 or m == 0:
        return out_arr
    with nogil:
        for j in range(m):
            a = starts[j]
            b = starts[j + 1] if j + 1 < m else n
            out[j, 0] = <double> (b - a)
            p = &acc[a, 0]
            for c in range(3):
                lo[c] = p[c]
                hi[c] = p[c]
            if b - a > 1:
                _pw3(p + 3, b - a - 1, s1, s2)
                for c in range(3):
                    out[j, 1 + c] = p[c] + s1[c]
                    out[j, 4 + c] = p[c] * p[c] + s2[c]
            else:
                for c in range(3):
                    out[j, 1 + c] = p[c]
                    out[j, 4 + c] = p[c] * p[c]
            for i in range(1, b - a):
                for c in range(3):
                    v = p[3 * i + c]
                    lo[c] = v if v < lo[c] else lo[c]
                    hi[c] = v if v > hi[c] else hi[c]
            for c in range(3):
                out[j, 7 + c] = lo[c]
                out[j, 10 + c] = hi[c]
    return out_arr


def repeats(const double[::1] t, const double[:, ::1] acc, double bridge_s):
    """(n,) bool: sample i repeats sample i - 1 exactly (all three axes) and follows it
    within ``bridge_s`` s (``t[i] - t[i - 1] <= bridge_s``); element 0 is False."""
    cdef Py_ssize_t n = t.shape[0], i
    out_arr = np.zeros(n, dtype=np.bool_)
    cdef unsigned char[::1] out = out_arr.view(np.uint8)
    with nogil:
        for i in range(1, n):
            out[i] = (t[i] - t[i - 1] <= bridge_s and acc[i, 0] == acc[i - 1, 0]
                      and acc[i, 1] == acc[i - 1, 1] and acc[i, 2] == acc[i - 1, 2])
    return out_arr


def still_windows(const double[:, ::1] table, const unsigned char[::1] present,
                  Py_ssize_t first, Py_ssize_t start, Py_ssize_t until, Py_ssize_t win_n,
                  double min_n, double sd_g, double range_g, Py_ssize_t min_axes):
    """The still windows of ``WearEstimator._evaluate``, exactly: for each window end
    ``start .. until`` (minute indices), the window of ``win_n`` minutes ending there (rows
    of ``table`` (span, 13) from minute ``first``, those with ``present`` set) is still
    when it starts at or after ``first``, holds ``min_n`` samples and, on ``min_axes``
    axes, has an SD below ``sd_g`` and a range below ``range_g`` g.  Sums over rows are
    sequential, as NumPy reduces axis 0 of a C-ordered array.  Returns [(w0, end + 1)]."""
    cdef Py_ssize_t end, w0, lo, hi, r, c, n_sd, n_rng, any_present
    cdef double n, mean, var, sd
    cdef double s1[3]
    cdef double s2[3]
    cdef double mn[3]
    cdef double mx[3]
    out = []
    for end in range(start, until + 1):
        w0 = end - win_n + 1
        lo = max(w0, first) - first
        hi = end + 1 - first
        if lo >= hi or w0 < first:
            continue
        n = 0.0
        any_present = 0
        for r in range(lo, hi):
            if present[r]:
                if not any_present:
                    for c in range(3):
                        s1[c] = table[r, 1 + c]; s2[c] = table[r, 4 + c]
                        mn[c] = table[r, 7 + c]; mx[c] = table[r, 10 + c]
                else:
                    for c in range(3):
                        s1[c] += table[r, 1 + c]; s2[c] += table[r, 4 + c]
                        mn[c] = min(mn[c], table[r, 7 + c]); mx[c] = max(mx[c], table[r, 10 + c])
                any_present = 1
                n += table[r, 0]  # whole counts: exact in any order
        if not any_present or n < min_n:
            continue
        n_sd = 0
        n_rng = 0
        for c in range(3):
            mean = s1[c] / n
            var = max(s2[c] / n - mean * mean, 0.0)
            sd = sqrt(var * n / max(n - 1.0, 1.0))
            n_sd += sd < sd_g
            n_rng += mx[c] - mn[c] < range_g
        if n_sd >= min_axes and n_rng >= min_axes:
            out.append((w0, end + 1))
    return out


# ---------------------------------------------------------------- sleep epochs
cdef void _pw4q(const double* a, const double* e, const unsigned char* mv, Py_ssize_t n,
                double* s) noexcept nogil:
    """``_pairwise_sum`` of ``a[:, c] * quiet`` (c = 0..2, ``a`` row-major (n, 3)) into
    ``s[0:3]`` and of ``e * quiet`` into ``s[3]``, with quiet = 1.0 - ``mv`` (0.0 or 1.0,
    so the products are NumPy's ``acc * ~move``, signed zeros included).  The four sums share
    one summation tree: their accumulators sit side by side, one pass over the data."""
    cdef Py_ssize_t i, k, c, n2, stop
    cdef double r[32]
    cdef double u[4]
    cdef double w
    if n < 8:
        for c in range(4):
            s[c] = -0.0
        for i in range(n):
            w = 1.0 - mv[i]
            for c in range(3):
                s[c] += a[3 * i + c] * w
            s[3] += e[i] * w
        return
    if n <= 128:
        for k in range(8):
            w = 1.0 - mv[k]
            for c in range(3):
                r[4 * k + c] = a[3 * k + c] * w
            r[4 * k + 3] = e[k] * w
        i = 8
        stop = n - (n % 8)
        while i < stop:
            for k in range(8):
                w = 1.0 - mv[i + k]
                for c in range(3):
                    r[4 * k + c] += a[3 * (i + k) + c] * w
                r[4 * k + 3] += e[i + k] * w
            i += 8
        for c in range(4):
            s[c] = (((r[c] + r[4 + c]) + (r[8 + c] + r[12 + c]))
                    + ((r[16 + c] + r[20 + c]) + (r[24 + c] + r[28 + c])))
        while i < n:
            w = 1.0 - mv[i]
            for c in range(3):
                s[c] += a[3 * i + c] * w
            s[3] += e[i] * w
            i += 1
        return
    n2 = n // 2
    n2 -= n2 % 8
    _pw4q(a, e, mv, n2, s)
    _pw4q(a + 3 * n2, e + n2, mv + n2, n - n2, u)
    for c in range(4):
        s[c] = s[c] + u[c]


def epoch_sums(const double[:, ::1] acc, const double[::1] env, const unsigned char[::1] move,
               const long[::1] starts, Py_ssize_t n):
    """Per-epoch sums of ``SleepEstimator._close_epochs`` over the first ``n`` rows of
    ``acc`` (>= n, 3) g, ``env`` (>= n,) g and ``move`` (>= n,) (0/1: inside a burst), for
    epochs beginning at ``starts`` (m,) (increasing, first 0, last epoch ends at n), as
    ``np.add.reduceat`` gives them: samples (m,), quiet samples (m,), orientation sum (m, 3)
    (of the quiet samples; of all when there are none) and mean quiet envelope (m,) g."""
    cdef Py_ssize_t m = starts.shape[0], j, a, b, c, i, nq
    counts_arr = np.empty(m, dtype=np.int64)
    g_arr = np.empty((m, 3))
    em_arr = np.empty(m)
    cdef long[::1] counts = counts_arr
    cdef double[:, ::1] g = g_arr
    cdef double[::1] em = em_arr
    cdef double s[4]
    cdef double s2[3]
    cdef double w
    if m == 0:
        return counts_arr, g_arr, em_arr
    with nogil:
        for j in range(m):
            a = starts[j]
            b = starts[j + 1] if j + 1 < m else n
            counts[j] = b - a
            nq = 0
            for i in range(a, b):
                nq += 1 - move[i]
            if nq == 0:
                # (the quiet sums are zeros: the orientation is the plain sum, env 0)
                if b - a > 1:
                    _pw3(&acc[a + 1, 0], b - a - 1, s, s2)
                    for c in range(3):
                        g[j, c] = acc[a, c] + s[c]
                else:
                    for c in range(3):
                        g[j, c] = acc[a, c]
                em[j] = 0.0
                continue
            w = 1.0 - move[a]
            if b - a > 1:
                _pw4q(&acc[a + 1, 0], &env[a + 1], &move[a + 1], b - a - 1, s)
                for c in range(3):
                    g[j, c] = acc[a, c] * w + s[c]
                em[j] = (env[a] * w + s[3]) / nq
            else:
                for c in range(3):
                    g[j, c] = acc[a, c] * w
                em[j] = env[a] * w / nq
    return counts_arr, g_arr, em_arr


# Python's float ** 2 is libm's pow(|x|, 2.0), which the compiler would turn into x * x
# (not always the same bits): called through a pointer, so it is not.
ctypedef double (*_pow_t)(double, double) noexcept nogil
cdef _pow_t _pow = pow
cdef double _RAD2DEG = 180.0 / 3.14159265358979323846  # math.degrees' factor


cdef inline double _sq_py(double x) noexcept nogil:
    return _pow(fabs(x), 2.0)


def epoch_geometry(const long[::1] ep, const long[::1] counts, const double[:, ::1] g,
                   Py_ssize_t min_samples, prev_g, prev_k):
    """The orientation arithmetic of ``SleepEstimator._epoch``, exactly as Python computes
    it, for consecutive epochs ``ep`` (m,) with ``counts`` (m,) samples and orientation
    sums ``g`` (m, 3), after the last usable epoch ``prev_k`` with unit orientation
    ``prev_g`` (None: none yet).  Returns ([(usable, z-angle deg, angle to the previous
    usable epoch deg (NaN: none), previous usable epoch index or None)] per epoch, new
    prev_g, new prev_k)."""
    cdef Py_ssize_t m = ep.shape[0], j
    cdef double p0 = 0.0, p1 = 0.0, p2 = 0.0, norm, g0, g1, g2, x, z, ang
    cdef bint has = prev_g is not None
    if has:
        p0, p1, p2 = prev_g
    out = []
    for j in range(m):
        if counts[j] < min_samples:
            out.append((False, NAN, NAN, None))
            continue
        norm = sqrt((_sq_py(g[j, 0]) + _sq_py(g[j, 1])) + _sq_py(g[j, 2]))
        if norm < 1e-9:
            out.append((False, NAN, NAN, None))
            continue
        g0 = g[j, 0] / norm
        g1 = g[j, 1] / norm
        g2 = g[j, 2] / norm
        x = g2 if g2 < 1.0 else 1.0  # max(-1.0, min(1.0, g2)) as Python picks
        x = x if x > -1.0 else -1.0
        z = asin(x) * _RAD2DEG
        if has:
            x = (p0 * g0 + p1 * g1) + p2 * g2
            x = x if x > -1.0 else -1.0  # min(1.0, max(-1.0, cosang))
            x = x if x < 1.0 else 1.0
            ang = acos(x) * _RAD2DEG
            out.append((True, z, ang, prev_k))
        else:
            out.append((True, z, NAN, None))
        p0 = g0
        p1 = g1
        p2 = g2
        has = True
        prev_k = int(ep[j])
    return out, ((p0, p1, p2) if has else None), prev_k


# ---------------------------------------------------------------- episodes
def gate_counts(const double[:, ::1] bp, const long[::1] starts, Py_ssize_t n, double gate):
    """|bp| of the first ``n`` rows of ``bp`` (>= n, 3) g (``sqrt(einsum("ij,ij->i"))``) and,
    per window beginning at ``starts`` (m,) (the last ends at n), how many reach ``gate``
    g: ((n,) g, (m,) int64)."""
    cdef Py_ssize_t m = starts.shape[0], j, a, b, i, cnt
    mag_arr = np.empty(n)
    cnt_arr = np.empty(m, dtype=np.int64)
    cdef double[::1] mag = mag_arr
    cdef long[::1] counts = cnt_arr
    cdef double v
    with nogil:
        for j in range(m):
            a = starts[j]
            b = starts[j + 1] if j + 1 < m else n
            cnt = 0
            for i in range(a, b):
                v = sqrt(_sq(bp[i, 0], bp[i, 1], bp[i, 2]))
                mag[i] = v
                cnt += v >= gate
            counts[j] = cnt
    return mag_arr, cnt_arr


# ---------------------------------------------------------------- negative myoclonus
cdef inline Py_ssize_t _lower(const double[::1] t, double x) noexcept nogil:
    """``np.searchsorted(t, x, "left")``."""
    cdef Py_ssize_t lo = 0, hi = t.shape[0], mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if t[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def negative_lapse(const double[::1] t, const double[:, ::1] acc, double t_first,
                   double t_last, const double[::1] p):
    """:func:`detector.negative.negative_lapse` (the rules there), compiled: ``p`` =
    (min_lapse_s, min_dip_g, max_dip_g, max_perp_ratio, min_impulse_ratio, max_tilt_deg,
    recover_s, pre_s, pre_gap_s).  Returns None or (onset, t_end, dip_g, peak_acc_g,
    lapse_s).  Sums run in sample order (not NumPy's pairwise order: the last bits of a
    lapse's numbers may differ from a NumPy version; nothing else depends on them)."""
    cdef double min_lapse = p[0], min_dip = p[1], max_dip = p[2], max_perp = p[3]
    cdef double min_imp = p[4], max_tilt = p[5], recover = p[6], pre_s = p[7], gap = p[8]
    cdef Py_ssize_t a = _lower(t, t_first - gap - pre_s), b = _lower(t, t_first - gap)
    cdef Py_ssize_t w1 = _lower(t, t_last + recover)
    if b - a < 5 or w1 <= b:
        return None
    cdef Py_ssize_t m = w1 - a, nd = w1 - b, i, j, q, lo, hi, k, h
    cdef double dt = (t[w1 - 1] - t[a]) / (w1 - 1 - a if w1 - 1 - a > 1 else 1)
    k = <Py_ssize_t> rint(0.04 / dt)
    if k < 1:
        k = 1
    k = k | 1
    h = k // 2
    cdef double* sm = <double*> malloc(m * 3 * sizeof(double))
    cdef double* cs = <double*> malloc((m + 1) * 3 * sizeof(double))
    cdef double* along = <double*> malloc(nd * sizeof(double))
    cdef double* mag = <double*> malloc(nd * sizeof(double))
    cdef double g0x = 0, g0y = 0, g0z = 0, gn, ux, uy, uz, sig = 0, dx, dy, dz, thr, mmax = 0
    cdef double dip, lapse_s, px, py, pz, imp_l = 0, imp_r = 0, g1x = 0, g1y = 0, g1z = 0
    cdef double cosv, onset, t_end, peak = 0, v
    cdef Py_ssize_t i0 = -1, jz = -1, s = 0, kmin, r1, c0, c1, kp, e, npre = b - a
    result = None
    try:
        # centred running mean over k samples (shrinking at the edges)
        if k <= 1 or m < k:
            for i in range(m):
                for q in range(3):
                    sm[3 * i + q] = acc[a + i, q]
        else:
            for q in range(3):
                cs[q] = 0.0
            for i in range(m):
                for q in range(3):
                    cs[3 * (i + 1) + q] = cs[3 * i + q] + acc[a + i, q]
            for i in range(m):
                lo = i - h if i - h > 0 else 0
                hi = i + h + 1 if i + h + 1 < m else m
                for q in range(3):
                    sm[3 * i + q] = (cs[3 * hi + q] - cs[3 * lo + q]) / (hi - lo)
        for i in range(npre):
            g0x += sm[3 * i]
            g0y += sm[3 * i + 1]
            g0z += sm[3 * i + 2]
        g0x /= npre
        g0y /= npre
        g0z /= npre
        gn = sqrt(g0x * g0x + g0y * g0y + g0z * g0z)
        if gn < 0.5:
            return None
        ux, uy, uz = g0x / gn, g0y / gn, g0z / gn
        for i in range(npre):
            dx, dy, dz = sm[3 * i] - g0x, sm[3 * i + 1] - g0y, sm[3 * i + 2] - g0z
            sig += dx * dx + dy * dy + dz * dz
        sig = sqrt(sig / npre)
        for j in range(nd):
            i = npre + j
            dx, dy, dz = sm[3 * i] - g0x, sm[3 * i + 1] - g0y, sm[3 * i + 2] - g0z
            along[j] = dx * ux + dy * uy + dz * uz
            mag[j] = sqrt(dx * dx + dy * dy + dz * dz)
            if mag[j] > mmax:
                mmax = mag[j]
        thr = 5.0 * sig
        if min_dip > thr:
            thr = min_dip
        if 0.08 * mmax > thr:
            thr = 0.08 * mmax
        for j in range(nd):
            if mag[j] > thr:
                i0 = j
                break
        if i0 < 0 or along[i0] >= 0.0:
            return None
        for j in range(i0, nd):
            if along[j] >= 0.0:
                jz = j
                break
        if jz < 0:
            return None
        for j in range(i0 - 1, -1, -1):
            if along[j] > -2.0 * sig:
                s = j + 1
                break
        kmin = s
        for j in range(s, jz):
            if along[j] < along[kmin]:
                kmin = j
            imp_l -= along[j]
        dip = -along[kmin]
        lapse_s = t[b + jz] - t[b + s]
        if not (min_dip <= dip <= max_dip) or lapse_s < min_lapse - 0.5 * dt:
            return None
        i = npre + kmin
        px = sm[3 * i] - g0x - along[kmin] * ux
        py = sm[3 * i + 1] - g0y - along[kmin] * uy
        pz = sm[3 * i + 2] - g0z - along[kmin] * uz
        if sqrt(px * px + py * py + pz * pz) > max_perp * dip:
            return None
        r1 = _lower(t, t[b + jz] + recover) - b
        if r1 > nd:
            r1 = nd
        kp = -1
        for j in range(jz, r1):
            if along[j] > 0.0:
                imp_r += along[j]
            if kp < 0 or along[j] > along[kp]:
                kp = j
        if imp_r < min_imp * imp_l:
            return None
        c0, c1 = _lower(t, t_last + 0.5), _lower(t, t_last + 1.1)
        if c1 - c0 >= 3:
            for i in range(c0, c1):
                g1x += acc[i, 0]
                g1y += acc[i, 1]
                g1z += acc[i, 2]
            g1x /= (c1 - c0)
            g1y /= (c1 - c0)
            g1z /= (c1 - c0)
            cosv = (g1x * g0x + g1y * g0y + g1z * g0z) / (
                sqrt(g1x * g1x + g1y * g1y + g1z * g1z) * gn + 1e-12)
            if cosv > 1.0:
                cosv = 1.0
            if cosv < -1.0:
                cosv = -1.0
            if acos(cosv) * 57.29577951308232 > max_tilt:
                return None
        if kp >= 0:
            e = r1 - 1  # no return to rest inside the window: its end
            for j in range(kp, r1):
                if along[j] <= 0.0:
                    e = j
                    break
        else:
            e = jz
        if e > nd - 1:
            e = nd - 1
        for i in range(b + s, b + e + 1):
            dx, dy, dz = acc[i, 0] - g0x, acc[i, 1] - g0y, acc[i, 2] - g0z
            v = sqrt(dx * dx + dy * dy + dz * dz)
            if v > peak:
                peak = v
        result = (t[b + s], t[b + e], dip, peak, lapse_s)
    finally:
        free(sm)
        free(cs)
        free(along)
        free(mag)
    return result
