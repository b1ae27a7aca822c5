"""Scoring detected jerks against ground truth (one-to-one matching within a tolerance)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from detector.errors import InputError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Score:
    """Detection accuracy of one recording.

    Attributes:
        n_true, n_detected, true_positives, false_positives, false_negatives: counts.
        sensitivity, ppv, f1: 0..1 (NaN when undefined).
        false_per_hour: false detections per recorded hour.
        median_onset_error_ms: median |detected - true onset| over matches, ms.
        kind_accuracy: share of matches whose hypnic/myoclonic label is right.
        missed_by_kind / false_by_context: where the errors are (diagnostics).
    """

    n_true: int
    n_detected: int
    true_positives: int
    false_positives: int
    false_negatives: int
    sensitivity: float
    ppv: float
    f1: float
    false_per_hour: float
    median_onset_error_ms: float
    kind_accuracy: float
    hours: float
    missed_by_kind: dict[str, int]
    false_by_context: dict[str, int]
    false_by_state: dict[str, int] = field(default_factory=dict)
    hours_by_state: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"true jerks        {self.n_true}",
            f"detected          {self.n_detected}",
            f"sensitivity       {self.sensitivity:.3f}",
            f"PPV               {self.ppv:.3f}",
            f"F1                {self.f1:.3f}",
            f"false per hour    {self.false_per_hour:.3f}",
            f"median onset err  {self.median_onset_error_ms:.1f} ms",
            f"kind label right  {self.kind_accuracy:.3f}",
            f"missed by kind    {self.missed_by_kind}",
            f"false by context  {self.false_by_context}",
            "false per hour by state  "
            + ", ".join(
                f"{k} {self.false_by_state.get(k, 0)} in {h:.2f} h"
                for k, h in self.hours_by_state.items()
            ),
        ]


def match_onsets(
    detected: FloatArray, true: FloatArray, tolerance_s: float = 0.25
) -> list[tuple[int, int]]:
    """One-to-one pairs (i_detected, j_true) with |difference| <= tolerance, maximising the
    number of pairs and, among those, minimising the total onset error.

    Args:
        detected: (n,) s.  true: (m,) s.  Both in the same time base.
    """
    # Imported here: ``jerkmon detect`` imports this module (for ``jerkmon evaluate``) and
    # should not pay for SciPy.
    from scipy.optimize import linear_sum_assignment

    det_order = np.argsort(detected, kind="stable")
    tru_order = np.argsort(true, kind="stable")
    d, u = detected[det_order], true[tru_order]
    pairs: list[tuple[int, int]] = []
    # Candidate edges, then connected components along time (they are small).
    lo = np.searchsorted(u, d - tolerance_s, "left")
    hi = np.searchsorted(u, d + tolerance_s, "right")
    i = 0
    while i < d.size:
        if lo[i] >= hi[i]:
            i += 1
            continue
        j0, j1, i1 = int(lo[i]), int(hi[i]), i + 1
        while i1 < d.size and lo[i1] < j1:
            j1 = max(j1, int(hi[i1]))
            i1 += 1
        sub_d, sub_u = d[i:i1], u[j0:j1]
        err = np.abs(sub_d[:, None] - sub_u[None, :])
        big = 1e6
        cost = np.where(err <= tolerance_s, err - big, 0.0)  # a match always beats none
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if err[r, c] <= tolerance_s:
                pairs.append((int(det_order[i + r]), int(tru_order[j0 + c])))
        i = i1
    return pairs


def score(
    detected_onsets: FloatArray,
    detected_kinds: Sequence[str],
    truth: Mapping[str, Any],
    sensor: str | None = None,
    tolerance_s: float = 0.25,
) -> Score:
    """Score detections of one sensor against a simulator truth dict (``*.truth.json``).

    Jerks only: negative myoclonus (true lapses and detections of kind ``negative``) is left
    out on both sides; :func:`score_cells` scores it."""
    keep = [i for i, k in enumerate(detected_kinds) if k != "negative"]
    detected_onsets = np.asarray(detected_onsets, dtype=np.float64)[keep]
    detected_kinds = [detected_kinds[i] for i in keep]
    sensors = list(truth.get("sensors", []))
    if sensor is None:
        sensor = sensors[0] if sensors else None
    elif sensors and sensor not in sensors:
        raise InputError(f"sensor {sensor!r} is not in the truth (has {', '.join(sensors)})")
    jerks = [
        j
        for j in truth.get("jerks", [])
        if (sensor is None or "sensors" not in j or sensor in j["sensors"])
        and j.get("kind") != "negative"
    ]
    true = np.array([float(j["onset"]) for j in jerks], dtype=np.float64)
    true_kinds = [str(j.get("kind", "myoclonic")) for j in jerks]
    pairs = match_onsets(detected_onsets, true, tolerance_s)
    tp = len(pairs)
    n_det, n_true = detected_onsets.size, true.size
    sens = tp / n_true if n_true else math.nan
    ppv = tp / n_det if n_det else math.nan
    f1 = 2 * tp / (n_det + n_true) if (n_det + n_true) else math.nan
    hours = float(truth.get("hours", 0.0)) or (
        (float(true.max()) - float(true.min())) / 3600.0 if n_true > 1 else 0.0
    )
    errs = [abs(float(detected_onsets[i]) - float(true[j])) for i, j in pairs]
    right = sum(1 for i, j in pairs if detected_kinds[i] == true_kinds[j])
    matched_true = {j for _, j in pairs}
    missed: dict[str, int] = {}
    for j, k in enumerate(true_kinds):
        if j not in matched_true:
            missed[k] = missed.get(k, 0) + 1
    matched_det = {i for i, _ in pairs}
    false_ctx: dict[str, int] = {}
    conf = [
        c
        for c in truth.get("confounders", [])
        if sensor is None or "sensors" not in c or sensor in c["sensors"]
    ]
    for i in range(n_det):
        if i in matched_det:
            continue
        t = float(detected_onsets[i])
        ctx = next(
            (str(c["kind"]) for c in conf if float(c["start"]) - 1.0 <= t <= float(c["end"]) + 1.0),
            "none",
        )
        false_ctx[ctx] = false_ctx.get(ctx, 0) + 1
    by_state: dict[str, int] = {}
    for i in range(n_det):
        if i not in matched_det:
            st = state_at(truth, float(detected_onsets[i]), sensor)
            by_state[st] = by_state.get(st, 0) + 1
    return Score(
        false_by_state=by_state,
        hours_by_state=state_hours(truth, sensor),
        n_true=n_true,
        n_detected=n_det,
        true_positives=tp,
        false_positives=n_det - tp,
        false_negatives=n_true - tp,
        sensitivity=sens,
        ppv=ppv,
        f1=f1,
        false_per_hour=(n_det - tp) / hours if hours > 0 else math.nan,
        median_onset_error_ms=1000.0 * float(np.median(errs)) if errs else math.nan,
        kind_accuracy=right / tp if tp else math.nan,
        hours=hours,
        missed_by_kind=missed,
        false_by_context=false_ctx,
    )


#: Where a false jerk happened, from the truth: the wearer's state and what they were doing.
STATES: tuple[str, ...] = ("asleep", "awake at rest", "walking", "activity", "not worn", "episode")
_STATE_OF_KIND = {
    "not_worn": "not worn",
    "walk": "walking",
    "activity": "activity",
    "posture": "activity",
    "reading": "activity",
    "clonic": "episode",
    # Randomised nights (issue 16): awake movements that carry jerks.
    "sit_up": "activity",
    "reach": "activity",
    "hold": "activity",
}


def _state_intervals(
    truth: Mapping[str, Any], sensor: str | None
) -> list[tuple[float, float, str]]:
    out = []
    for c in truth.get("confounders", []):
        st = _STATE_OF_KIND.get(str(c.get("kind")))
        if st is None or (sensor is not None and "sensors" in c and sensor not in c["sensors"]):
            continue
        out.append((float(c["start"]) - 1.0, float(c["end"]) + 1.0, st))
    # Priority: not worn > episode > walking > activity.
    order = {s: i for i, s in enumerate(("not worn", "episode", "walking", "activity"))}
    return sorted(out, key=lambda x: order[x[2]])


def state_at(truth: Mapping[str, Any], t: float, sensor: str | None = None) -> str:
    """The truth's state at ``t`` s: not worn, episode, walking, activity (getting up,
    reading, washing...), else asleep or awake at rest from the hypnogram."""
    for a, b, st in _state_intervals(truth, sensor):
        if a <= t <= b:
            return st
    for a, b, stage in truth.get("stages", []):
        if float(a) <= t < float(b):
            return "awake at rest" if stage == "W" else "asleep"
    return "asleep"


def state_hours(truth: Mapping[str, Any], sensor: str | None = None) -> dict[str, float]:
    """Hours of the recording in each :data:`STATES` (1 s resolution)."""
    dur = float(truth.get("duration_s", 0.0)) or 3600.0 * float(truth.get("hours", 0.0))
    t0 = float(truth.get("t0", 0.0))
    grid = t0 + np.arange(0.0, dur, 1.0)
    labels = np.full(grid.size, "asleep", dtype=object)
    for a, b, stage in truth.get("stages", []):
        if stage == "W":
            labels[(grid >= float(a)) & (grid < float(b))] = "awake at rest"
    for a, b, st in reversed(_state_intervals(truth, sensor)):
        labels[(grid >= a) & (grid <= b)] = st
    return {s: float(np.count_nonzero(labels == s)) / 3600.0 for s in STATES}


@dataclass(frozen=True, slots=True)
class EpisodeScore:
    """Convulsive episodes against the truth: found / missed, and false ones by context."""

    n_true: int
    found: int
    missed: int
    false: int
    false_by_context: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_episodes(
    detected: Sequence[tuple[float, float]], truth: Mapping[str, Any], sensor: str | None = None
) -> EpisodeScore:
    """Detected episodes (start, end) s against ``truth["episodes"]``: a true episode is found
    when a detection overlaps it; a detection overlapping none is false (its context is the
    confounder it overlaps: tremor, scratch, walk... or "none")."""
    true = [
        e
        for e in truth.get("episodes", [])
        if sensor is None or "sensors" not in e or sensor in e["sensors"]
    ]
    found = sum(
        1 for e in true if any(a < float(e["end"]) and b > float(e["start"]) for a, b in detected)
    )
    false_ctx: dict[str, int] = {}
    for a, b in detected:
        if any(a < float(e["end"]) and b > float(e["start"]) for e in true):
            continue
        ctx = next(
            (
                str(c["kind"])
                for c in truth.get("confounders", [])
                if (sensor is None or sensor in c.get("sensors", [sensor]))
                and a < float(c["end"])
                and b > float(c["start"])
            ),
            "none",
        )
        false_ctx[ctx] = false_ctx.get(ctx, 0) + 1
    return EpisodeScore(len(true), found, len(true) - found, sum(false_ctx.values()), false_ctx)


#: Contexts and sizes of the randomised simulator's truth (``context``, ``size`` of a jerk).
CONTEXTS: tuple[str, ...] = (
    "isolated",
    "series_ge_1s",
    "series_lt_1s",
    "awake_moving",
    "in_tremor",
)
SIZES: tuple[str, ...] = ("small", "medium", "large")
#: Upper edges (g) of the small and medium sizes: < 0.15 g, 0.15-0.5 g, > 0.5 g.
SIZE_EDGES_G: tuple[float, float] = (0.15, 0.5)


def size_of(amplitude_g: float) -> str:
    """The size class of a jerk of this peak amplitude (as the simulator's truth names it)."""
    if amplitude_g < SIZE_EDGES_G[0]:
        return "small"
    return "medium" if amplitude_g <= SIZE_EDGES_G[1] else "large"


def _add_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}


@dataclass(frozen=True, slots=True)
class CellCounts:
    """Counts behind per-cell accuracy on one or more nights (``+`` pools them).

    Jerks (kind hypnic or myoclonic) and negative myoclonus are matched separately, one to
    one within the tolerance: true jerks against detections of any other kind than
    "negative", true negative myoclonus against detections of kind "negative".

    Attributes:
        n_true, found: true jerks (and those matched) per cell "context/size".
        detected, true_positives: jerk detections, and those matched to a true jerk.
        negative_as_jerk: unmatched jerk detections within the tolerance of a true negative
            myoclonus (a negative myoclonus reported as an ordinary jerk; counted false).
        hypnic_true, hypnic_detected, hypnic_right: true hypnic jerks, detections labelled
            hypnic, and matches that are hypnic on both sides.
        negative_true, negative_detected, negative_found: negative myoclonus in the truth,
            detections of kind "negative", and their matches.
        onset_errors_ms: |detected - true onset| of every jerk match, ms.
        hours: recorded hours.
    """

    n_true: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    detected: int = 0
    true_positives: int = 0
    negative_as_jerk: int = 0
    hypnic_true: int = 0
    hypnic_detected: int = 0
    hypnic_right: int = 0
    negative_true: int = 0
    negative_detected: int = 0
    negative_found: int = 0
    onset_errors_ms: tuple[float, ...] = ()
    hours: float = 0.0

    def __post_init__(self) -> None:
        ints = (
            self.detected,
            self.true_positives,
            self.negative_as_jerk,
            self.hypnic_true,
            self.hypnic_detected,
            self.hypnic_right,
            self.negative_true,
            self.negative_detected,
            self.negative_found,
        )
        if min(ints) < 0 or self.hours < 0.0:
            raise ValueError("counts and hours must not be negative")
        if self.true_positives > self.detected or self.negative_found > self.negative_true:
            raise ValueError("more matches than events")

    def __add__(self, other: CellCounts) -> CellCounts:
        return CellCounts(
            n_true=_add_counts(self.n_true, other.n_true),
            found=_add_counts(self.found, other.found),
            detected=self.detected + other.detected,
            true_positives=self.true_positives + other.true_positives,
            negative_as_jerk=self.negative_as_jerk + other.negative_as_jerk,
            hypnic_true=self.hypnic_true + other.hypnic_true,
            hypnic_detected=self.hypnic_detected + other.hypnic_detected,
            hypnic_right=self.hypnic_right + other.hypnic_right,
            negative_true=self.negative_true + other.negative_true,
            negative_detected=self.negative_detected + other.negative_detected,
            negative_found=self.negative_found + other.negative_found,
            onset_errors_ms=self.onset_errors_ms + other.onset_errors_ms,
            hours=self.hours + other.hours,
        )

    def cell(self, context: str | None = None, size: str | None = None) -> tuple[int, int]:
        """(found, n) of true jerks in a context and size (None: any)."""
        keys = [
            k
            for k in self.n_true
            if (context is None or k.split("/")[0] == context)
            and (size is None or k.split("/")[1] == size)
        ]
        return sum(self.found.get(k, 0) for k in keys), sum(self.n_true[k] for k in keys)

    @property
    def sensitivity(self) -> float:
        found, n = self.cell()
        return found / n if n else math.nan

    @property
    def ppv(self) -> float:
        return self.true_positives / self.detected if self.detected else math.nan

    @property
    def false_per_hour(self) -> float:
        return (self.detected - self.true_positives) / self.hours if self.hours else math.nan

    @property
    def hypnic_precision(self) -> float:
        return self.hypnic_right / self.hypnic_detected if self.hypnic_detected else math.nan

    @property
    def hypnic_recall(self) -> float:
        return self.hypnic_right / self.hypnic_true if self.hypnic_true else math.nan

    @property
    def negative_sensitivity(self) -> float:
        return self.negative_found / self.negative_true if self.negative_true else math.nan

    @property
    def negative_ppv(self) -> float:
        return self.negative_found / self.negative_detected if self.negative_detected else math.nan

    @property
    def median_onset_error_ms(self) -> float:
        return float(np.median(self.onset_errors_ms)) if self.onset_errors_ms else math.nan


def score_cells(
    detected_onsets: FloatArray,
    detected_kinds: Sequence[str],
    truth: Mapping[str, Any],
    sensor: str | None = None,
    tolerance_s: float = 0.25,
) -> CellCounts:
    """Count one sensor's detections against a truth per context and size (see
    :class:`CellCounts`); truths without ``context`` count as "isolated"."""
    sensors = list(truth.get("sensors", []))
    if sensor is None:
        sensor = sensors[0] if sensors else None
    jerks = [
        j
        for j in truth.get("jerks", [])
        if sensor is None or "sensors" not in j or sensor in j["sensors"]
    ]
    onsets = np.asarray(detected_onsets, dtype=np.float64)
    kinds = [str(k) for k in detected_kinds]
    positive = [j for j in jerks if j.get("kind", "myoclonic") != "negative"]
    negative = [j for j in jerks if j.get("kind") == "negative"]
    det_pos = np.array([i for i, k in enumerate(kinds) if k != "negative"], dtype=np.int64)
    det_neg = np.array([i for i, k in enumerate(kinds) if k == "negative"], dtype=np.int64)

    true_pos = np.array([float(j["onset"]) for j in positive], dtype=np.float64)
    pairs = match_onsets(onsets[det_pos], true_pos, tolerance_s)
    n_true: dict[str, int] = {}
    found: dict[str, int] = {}
    keys = [
        f"{j.get('context', 'isolated')}/{j.get('size') or size_of(float(j['amplitude_g']))}"
        for j in positive
    ]
    for key in keys:
        n_true[key] = n_true.get(key, 0) + 1
    for _, jt in pairs:
        found[keys[jt]] = found.get(keys[jt], 0) + 1
    matched = {int(det_pos[i]) for i, _ in pairs}
    true_neg = np.array([float(j["onset"]) for j in negative], dtype=np.float64)
    neg_as_jerk = 0
    if true_neg.size:
        for i in det_pos.tolist():
            if i not in matched and np.min(np.abs(true_neg - onsets[i])) <= tolerance_s:
                neg_as_jerk += 1
    neg_pairs = match_onsets(onsets[det_neg], true_neg, tolerance_s)
    hours = float(truth.get("hours", 0.0))
    return CellCounts(
        n_true=n_true,
        found=found,
        detected=int(det_pos.size),
        true_positives=len(pairs),
        negative_as_jerk=neg_as_jerk,
        hypnic_true=sum(1 for j in positive if j.get("kind") == "hypnic"),
        hypnic_detected=sum(1 for i in det_pos.tolist() if kinds[i] == "hypnic"),
        hypnic_right=sum(
            1
            for i, jt in pairs
            if kinds[int(det_pos[i])] == "hypnic" and positive[jt].get("kind") == "hypnic"
        ),
        negative_true=len(negative),
        negative_detected=int(det_neg.size),
        negative_found=len(neg_pairs),
        onset_errors_ms=tuple(
            1000.0 * abs(float(onsets[int(det_pos[i])]) - float(true_pos[jt])) for i, jt in pairs
        ),
        hours=hours,
    )
