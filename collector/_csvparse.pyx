# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled reading of plain numeric CSV blocks (the common sample file: ``t,ax,ay,az``).

One pass over the bytes, without the GIL: fields are split at the delimiter, numbers are
converted exactly (correctly rounded, like Python's ``float``), and anything outside the
plain grammar makes the block *not simple*: the caller then reads it the general way
(pandas), which handles the rest and words every error.  So this module never decides
what is an error; it only decides what is plain.

Plain means: lines end in ``\\n`` (or ``\\r\\n``); each has exactly ``ncols`` fields
separated by one delimiter byte; a field is optional leading blanks, then a decimal number
``[+-]digits[.digits][(e|E)[+-]digits]``; in columns marked ``nan_ok`` also an empty field
or one of ``nan NaN NA null NULL`` (missing: NaN); fields not read are only skipped.
No quotes (the caller checks), no trailing blanks.
"""

from libc.math cimport NAN
from libc.stdlib cimport strtod
from libc.string cimport memcpy

import numpy as np

cdef double[23] _POW10 = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]
cdef unsigned long long _EXACT = 1ULL << 53  # integers a double holds exactly


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return c >= 48 and c <= 57


cdef Py_ssize_t _number(
    const unsigned char* s, Py_ssize_t i, Py_ssize_t end, double* out
) noexcept nogil:
    """Parse a decimal number at s[i:end]; return the index after it, or -1 if there is
    no number there.  Exact: Clinger's fast path (an integer below 2**53 scaled by an exact
    power of ten is one correctly rounded operation), else the C library's strtod."""
    cdef Py_ssize_t j = i, digits = 0, frac = 0, exp_start
    cdef unsigned long long m = 0
    cdef int sig = 0, e = 0, esign = 1, neg = 0, k
    cdef bint exact = True
    cdef double v
    cdef char buf[64]
    if j < end and (s[j] == 43 or s[j] == 45):  # + -
        neg = s[j] == 45
        j += 1
    while j < end and _is_digit(s[j]):
        if sig < 19:
            m = m * 10 + (s[j] - 48)
            if m != 0:
                sig += 1
        else:
            exact = False
        digits += 1
        j += 1
    if j < end and s[j] == 46:  # .
        j += 1
        while j < end and _is_digit(s[j]):
            if sig < 19:
                m = m * 10 + (s[j] - 48)
                if m != 0:
                    sig += 1
                frac += 1
            else:
                exact = False
            digits += 1
            j += 1
    if digits == 0:
        return -1
    if j < end and (s[j] == 101 or s[j] == 69):  # e E
        exp_start = j
        j += 1
        if j < end and (s[j] == 43 or s[j] == 45):
            esign = -1 if s[j] == 45 else 1
            j += 1
        if j >= end or not _is_digit(s[j]):
            return -1
        while j < end and _is_digit(s[j]):
            if e < 100000:
                e = e * 10 + (s[j] - 48)
            j += 1
    e = esign * e - frac
    if exact and m < _EXACT and -22 <= e <= 22:
        v = <double>m
        if e >= 0:
            v = v * _POW10[e]
        else:
            v = v / _POW10[-e]
        out[0] = -v if neg else v
        return j
    # Long or extreme numbers: the C library (correctly rounded on glibc).
    k = <int>(j - i)
    if k >= 63:
        return -1
    memcpy(buf, s + i, k)
    buf[k] = 0
    out[0] = strtod(buf, NULL)
    return j


cdef inline bint _token(
    const unsigned char* s, Py_ssize_t i, Py_ssize_t end, const char* word, Py_ssize_t n
) noexcept nogil:
    cdef Py_ssize_t k
    if end - i != n:
        return False
    for k in range(n):
        if s[i + k] != <unsigned char>word[k]:
            return False
    return True


cdef inline bint _missing(const unsigned char* s, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """An empty field or a missing-value word (pandas' na_values of the general path)."""
    return (
        i == end
        or _token(s, i, end, b"nan", 3)
        or _token(s, i, end, b"NaN", 3)
        or _token(s, i, end, b"NA", 2)
        or _token(s, i, end, b"null", 4)
        or _token(s, i, end, b"NULL", 4)
    )


def parse_block(
    const unsigned char[::1] data,
    int ncols,
    const int[::1] slot,
    const unsigned char[::1] nan_ok,
    int delimiter,
):
    """Read a block of whole lines of a plain numeric CSV.

    Args:
        data: (b,) bytes of whole lines (the last may lack its newline).
        ncols: fields per line.  slot: (ncols,) output column of each field, or -1 for a
            field that is only checked for the grammar.  nan_ok: (ncols,) 1 where a field
            may be missing.  delimiter: the delimiter byte (``,`` ``;`` or tab).

    Returns:
        (values, rows): values (rows, k) float64 with k = max(slot) + 1 columns, in line
        order; or (None, line) when the block is not plain, line being the 0-based line
        of ``data`` where that was seen (the general reader then takes the block).
    """
    cdef Py_ssize_t n = data.shape[0], i = 0, line_end, f_end, j, row = 0, cap
    cdef int k = 0, c, col, bad = 0
    cdef const unsigned char* s = &data[0] if n > 0 else NULL
    cdef double v
    for c in range(ncols):
        if slot[c] + 1 > k:
            k = slot[c] + 1
    # Rows <= newlines + 1: count them first (memchr-speed loop) to size the output.
    cap = 1
    with nogil:
        for j in range(n):
            if s[j] == 10:
                cap += 1
    out_arr = np.empty((cap, max(k, 1)), dtype=np.float64)
    cdef double[:, ::1] out = out_arr
    with nogil:
        while i < n:
            line_end = i
            while line_end < n and s[line_end] != 10:
                line_end += 1
            f_end = line_end
            if f_end > i and s[f_end - 1] == 13:  # \r\n
                f_end -= 1
            j = i
            for col in range(ncols):
                while j < f_end and s[j] == 32:  # pandas' skipinitialspace
                    j += 1
                # The field runs to the next delimiter (or the line end).
                i = j
                while j < f_end and s[j] != delimiter:
                    j += 1
                if slot[col] < 0:
                    pass  # a column not read: only its delimiter matters (no quotes here)
                elif _missing(s, i, j):
                    if not nan_ok[col]:
                        bad = 1
                        break
                    v = NAN
                else:
                    if _number(s, i, j, &v) != j:
                        bad = 1
                        break
                if slot[col] >= 0:
                    out[row, slot[col]] = v
                if col < ncols - 1:
                    if j >= f_end:  # short line
                        bad = 1
                        break
                    j += 1  # the delimiter
            if bad or j != f_end:  # a bad field, or a long line
                bad = 1
                break
            row += 1
            i = line_end + 1
    if bad:
        return None, row
    return out_arr[:row], row
