"""Type stub of the compiled kernels (detector/_features.pyx)."""

import numpy as np
import numpy.typing as npt

_F = npt.NDArray[np.float64]

P_NEIGHBOUR_WINDOW: int
P_MAX_BURST: int
P_PRE_CONTEXT: int
P_POST_CONTEXT: int
P_MAX_LOBE: int
P_SETTLE_WINDOW: int
P_LOOK_AHEAD: int
P_LOOK_BACK: int
P_MIN_THRESHOLD: int
P_THRESHOLD_FACTOR: int
P_RATE: int
P_CLIP_G: int
P_RAIL_MIN_G: int
P_HOP_N: int
P_AMBIGUOUS_IMPULSE: int
P_ACT_WINDOW: int
P_ACT_ENV: int
P_ACT_MIN_FRACTION: int
N_PARAMS: int
S_BASE_SHORT: int
S_NO_LOBE: int
S_NO_ONSET: int
S_DONE: int
F_FLOOR: int
F_THR: int
F_NEIGHBOURS: int
F_PRE_RATIO: int
F_POST_RATIO: int
F_SIGMA1: int
F_PEAK: int
F_PEAK_REFINED: int
F_ONSET: int
F_DRIFT: int
F_T_END: int
F_T_PEAK: int
F_FILLED_BAD: int
F_T_STRONG_END: int
F_SPIKE_COUNT: int
F_TILT: int
F_SETTLE: int
F_HF: int
F_TURN: int
F_N_STEPS: int
F_PRE_STEP: int
F_PRE_STEP_TYP: int
F_CLIP_N: int
F_PEAK_JERK: int
F_ACTIVE: int
F_REACH: int
F_WIN0: int
F_WIN1: int
N_FEATURES: int

def refined_peak(y: _F, p: int) -> float: ...
def bandpass_env(sos: _F, zi: _F, acc: _F) -> tuple[_F, _F]: ...
def burst_features(
    bt: _F,
    bacc: _F,
    benv: _F,
    bfloor: _F,
    bfill: npt.NDArray[np.uint8],
    rec: _F,
    tf: float,
    tl: float,
    peak_env: float,
    t_seg_lo: float,
    t_seg_hi: float,
    prm: _F,
    sos_hf: _F,
    zi_hf: _F,
) -> tuple[int, list[float]]: ...
def activity_fraction(
    t: _F,
    env: _F,
    others: _F,
    t_first: float,
    t_last: float,
    window_s: float,
    env_g: float,
    min_fraction: float,
    rate_hz: float,
) -> tuple[float, bool]: ...
def scan_chunk(
    t: _F, acc: _F, max_abs_t: float, max_abs_acc: float
) -> tuple[bool, bool, float]: ...
def fill_gaps(
    t: _F,
    acc: _F,
    prev_t: float,
    prev_acc: _F,
    has_prev: bool,
    lo: float,
    hi: float,
    rate_hz: float,
) -> tuple[_F, _F, npt.NDArray[np.bool_]]: ...
def supra_runs(
    env: _F, floor_: _F, min_thr: float, factor: float, merge_n: int
) -> tuple[npt.NDArray[np.bool_], list[tuple[int, int, float]]]: ...
def window_runs(t: _F, length_s: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def noise_floors(
    env: _F, partial: _F, meds: _F, floor_: float, bn: int, h: int
) -> tuple[_F, _F, _F, float]: ...
def minute_stats(acc: _F, starts: npt.NDArray[np.int64]) -> _F: ...
def repeats(t: _F, acc: _F, bridge_s: float) -> npt.NDArray[np.bool_]: ...
def still_windows(
    table: _F,
    present: npt.NDArray[np.uint8],
    first: int,
    start: int,
    until: int,
    win_n: int,
    min_n: float,
    sd_g: float,
    range_g: float,
    min_axes: int,
) -> list[tuple[int, int]]: ...
def epoch_sums(
    acc: _F, env: _F, move: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.int64], _F, _F]: ...
def epoch_geometry(
    ep: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    g: _F,
    min_samples: int,
    prev_g: tuple[float, float, float] | None,
    prev_k: int | None,
) -> tuple[
    list[tuple[bool, float, float, int | None]], tuple[float, float, float] | None, int | None
]: ...
def gate_counts(
    bp: _F, starts: npt.NDArray[np.int64], n: int, gate: float
) -> tuple[_F, npt.NDArray[np.int64]]: ...
def negative_lapse(
    t: _F, acc: _F, t_first: float, t_last: float, p: _F
) -> tuple[float, float, float, float, float] | None: ...
