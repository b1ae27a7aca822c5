"""Small vector helpers: unit vectors, Rodrigues rotations, postures of the wrist.

Sensor frame (left wrist): x along the forearm towards the hand, y towards the thumb, z out of
the watch face.  The accelerometer reads the *specific force*, so an arm at rest reads the
unit vector pointing up, expressed in the sensor frame ("up vector", 1 g).  The right wrist
uses the mirror image (y flipped), as a watch worn on the other arm would.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

POSTURES: tuple[str, ...] = ("supine", "prone", "left_side", "right_side")

# Up vectors (sensor frame, left wrist) of common arm positions per body posture, with weights.
_LEFT_ARM_POSITIONS: dict[str, list[tuple[tuple[float, float, float], float]]] = {
    "supine": [
        ((0.0, 0.0, 1.0), 0.35),  # arm beside the body, palm down
        ((0.0, 1.0, 0.0), 0.25),  # arm beside the body, thumb up
        ((0.5, 0.3, 0.8), 0.2),  # hand on chest or belly
        ((0.0, 0.0, -1.0), 0.1),  # palm up
        ((0.8, 0.0, 0.6), 0.1),  # hand under the head
    ],
    "prone": [
        ((0.0, 0.0, -1.0), 0.35),
        ((0.0, -1.0, 0.0), 0.2),
        ((0.7, 0.0, -0.7), 0.25),  # hands under the pillow
        ((0.0, 1.0, 0.0), 0.2),
    ],
    "left_side": [  # the left arm is the lower one
        ((0.0, 1.0, 0.0), 0.3),
        ((0.7, 0.7, 0.0), 0.3),  # hand in front of the face / under the pillow
        ((0.0, 0.0, -1.0), 0.2),
        ((0.3, 0.9, 0.3), 0.2),
    ],
    "right_side": [  # the left arm lies on top
        ((0.0, 0.0, 1.0), 0.3),
        ((0.0, -1.0, 0.0), 0.3),
        ((0.4, 0.0, 0.9), 0.2),
        ((-0.3, -0.5, 0.8), 0.2),  # hand hanging in front of the body
    ],
}

_MIRROR_POSTURE = {
    "supine": "supine",
    "prone": "prone",
    "left_side": "right_side",
    "right_side": "left_side",
}

# Body posture transitions at a turn (rows: from; columns: POSTURES order).
_TURN_TRANSITIONS: dict[str, tuple[float, float, float, float]] = {
    "supine": (0.12, 0.06, 0.41, 0.41),
    "prone": (0.3, 0.1, 0.3, 0.3),
    "left_side": (0.45, 0.1, 0.1, 0.35),
    "right_side": (0.45, 0.1, 0.35, 0.1),
}


def unit(v: FloatArray) -> FloatArray:
    """``v`` scaled to length 1 along the last axis (shape unchanged)."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.asarray(v / np.maximum(norm, 1e-12), dtype=np.float64)


def random_unit(rng: np.random.Generator) -> FloatArray:
    """A uniformly distributed random unit vector, shape (3,)."""
    return unit(rng.standard_normal(3))


def near(rng: np.random.Generator, direction: FloatArray, spread: float) -> FloatArray:
    """A unit vector near ``direction`` (3,): ``spread`` ~0.3 is ~15°, 1 is ~45°."""
    return unit(unit(direction) + spread * random_unit(rng))


def rotate(vectors: FloatArray, axis: FloatArray, angle_rad: FloatArray | float) -> FloatArray:
    """Rotate ``vectors`` (m, 3) about unit ``axis`` (3,) by ``angle_rad`` (scalar or (m,)).

    Rodrigues' formula, vectorised over rows; returns (m, 3).
    """
    angle = np.asarray(angle_rad, dtype=np.float64)
    cos = np.cos(angle)[..., None]
    sin = np.sin(angle)[..., None]
    cross = np.cross(axis, vectors)
    dot = (vectors @ axis)[..., None]
    out = vectors * cos + cross * sin + axis * dot * (1.0 - cos)
    return np.asarray(out, dtype=np.float64)


def angle_between(a: FloatArray, b: FloatArray) -> float:
    """Angle in radians between two vectors of shape (3,)."""
    return float(np.arccos(np.clip(np.dot(unit(a), unit(b)), -1.0, 1.0)))


def perpendicular_axis(v: FloatArray, hint: FloatArray) -> FloatArray:
    """Unit axis (3,) perpendicular to ``v``, in the plane of ``v`` and ``hint`` when possible.

    A rotation about an axis parallel to gravity changes nothing an accelerometer can see, so
    every tilt uses an axis perpendicular to the current up vector.
    """
    axis = np.cross(v, hint)
    if np.linalg.norm(axis) < 1e-6:
        other = np.array([1.0, 0.0, 0.0]) if abs(v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        axis = np.cross(v, other)
    return unit(axis)


def jitter_direction(rng: np.random.Generator, v: FloatArray, sd_deg: float) -> FloatArray:
    """``v`` (3,) tilted by a random angle |N(0, sd_deg)| (capped at 2.5 sd) in a random plane."""
    angle = min(abs(rng.normal(0.0, sd_deg)), 2.5 * sd_deg)
    return unit(rotate(v[None, :], perpendicular_axis(v, random_unit(rng)), np.radians(angle))[0])


def arm_up_vector(rng: np.random.Generator, posture: str, side: str) -> FloatArray:
    """A plausible up vector (3,) of the ``side`` wrist sensor for a body ``posture``."""
    mirrored = side == "right"
    options = _LEFT_ARM_POSITIONS[_MIRROR_POSTURE[posture] if mirrored else posture]
    weights = np.array([w for _, w in options])
    pick = options[int(rng.choice(len(options), p=weights / weights.sum()))][0]
    v = np.array(pick, dtype=np.float64)
    if mirrored:
        v[1] = -v[1]
    return jitter_direction(rng, unit(v), 12.0)


def initial_posture(rng: np.random.Generator) -> str:
    """Body posture at the start of the night."""
    return POSTURES[int(rng.choice(4, p=[0.45, 0.05, 0.25, 0.25]))]


def next_posture(rng: np.random.Generator, posture: str) -> str:
    """Body posture after a turn from ``posture`` (usually a different one)."""
    p = np.array(_TURN_TRANSITIONS[posture])
    return POSTURES[int(rng.choice(4, p=p / p.sum()))]
