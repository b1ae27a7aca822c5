"""Small hand-built wrist signals for detector unit tests (independent of sim/).

Each builder adds one physiological pattern into an (n, 3) array in g, sampled at ``fs`` Hz.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def rest(
    seconds: float, fs: float, noise_g: float = 0.006, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """t (n,) s and acc (n, 3) g of a still arm (gravity on z), breathing and noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    acc = np.zeros((n, 3))
    acc[:, 2] = 1.0
    acc[:, 0] += 0.004 * np.sin(2 * np.pi * 0.25 * t)  # breathing micro-motion
    acc += rng.normal(0.0, noise_g, (n, 3))
    return t, acc


def _unit(rng: np.random.Generator) -> FloatArray:
    u = rng.normal(size=3)
    return np.asarray(u / np.linalg.norm(u), dtype=np.float64)


def add_jerk(
    acc: FloatArray,
    fs: float,
    onset_s: float,
    amplitude_g: float,
    duration_s: float,
    seed: int = 0,
    biphasic: bool = False,
    ringing: float = 0.3,
) -> None:
    """A half-sine (or push-pull) transient followed by damped 8 Hz limb ringing."""
    rng = np.random.default_rng(seed)
    u = _unit(rng)
    i0 = int(np.ceil(onset_s * fs))
    m = int(duration_s * fs) + 2
    tt = (np.arange(m) + i0) / fs - onset_s
    x = np.clip(tt / duration_s, 0.0, 1.0)
    w = np.sin(2 * np.pi * x) if biphasic else np.sin(np.pi * x)
    acc[i0 : i0 + m] += amplitude_g * w[:, None] * u
    r = np.arange(int(0.4 * fs)) / fs
    ring = ringing * amplitude_g * np.exp(-r / 0.08) * np.sin(2 * np.pi * 8 * r)
    j0 = i0 + m
    acc[j0 : j0 + r.size] += ring[: max(0, min(r.size, acc.shape[0] - j0)), None] * u


def add_scratch(acc: FloatArray, fs: float, start_s: float, seconds: float, amp_g: float) -> None:
    """Rhythmic 5 Hz strokes."""
    i0, i1 = round(start_s * fs), round((start_s + seconds) * fs)
    tt = np.arange(i1 - i0) / fs
    acc[i0:i1, 0] += amp_g * np.sin(2 * np.pi * 5.0 * tt)
    acc[i0:i1, 1] += 0.4 * amp_g * np.sin(2 * np.pi * 5.0 * tt + 1.0)


def add_tremor(acc: FloatArray, fs: float, start_s: float, seconds: float, amp_g: float) -> None:
    """6 Hz amplitude-modulated tremor."""
    i0, i1 = round(start_s * fs), round((start_s + seconds) * fs)
    tt = np.arange(i1 - i0) / fs
    mod = 1.0 + 0.3 * np.sin(2 * np.pi * 0.2 * tt)
    acc[i0:i1, 1] += amp_g * mod * np.sin(2 * np.pi * 6.0 * tt)


def add_turn(acc: FloatArray, fs: float, start_s: float, seconds: float, angle_deg: float) -> None:
    """Turning over: the arm rotates about x by ``angle_deg`` over ``seconds``, with jostle."""
    i0, i1 = round(start_s * fs), round((start_s + seconds) * fs)
    n = acc.shape[0]
    ang = np.zeros(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(i1 - i0) / (i1 - i0))
    ang[i0:i1] = np.radians(angle_deg) * ramp
    ang[i1:] = np.radians(angle_deg)
    c, s = np.cos(ang), np.sin(ang)
    y, z = acc[:, 1].copy(), acc[:, 2].copy()
    acc[:, 1] = c * y - s * z
    acc[:, 2] = s * y + c * z
    tt = np.arange(i1 - i0) / fs
    acc[i0:i1, 0] += 0.3 * np.sin(2 * np.pi * 1.3 * tt) * np.sin(np.pi * tt / seconds)


def add_fidget(acc: FloatArray, fs: float, start_s: float, seconds: float, amp_g: float) -> None:
    """A slow smooth movement (minimum-jerk-like bump) of ``seconds`` duration."""
    i0, i1 = round(start_s * fs), round((start_s + seconds) * fs)
    x = np.arange(i1 - i0) / (i1 - i0)
    acc[i0:i1, 0] += amp_g * np.sin(2 * np.pi * x)  # accel of a smooth back-and-forth
