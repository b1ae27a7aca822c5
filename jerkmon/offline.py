"""Offline detection of a recording (a CSV file or arrays): the ``jerkmon detect`` path."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from collector.csvio import SampleReader, infer_rate_hz
from detector import (
    DetectorConfig,
    JerkDetector,
    JerkEvent,
    MinuteAggregator,
    MinuteCount,
    NightSummary,
    SleepPeriod,
    summarize,
)

_PROGRESS_MIN_BYTES = 20_000_000


@dataclass
class DetectionResult:
    """What one pass over a recording produced."""

    rate_hz: float
    events: list[JerkEvent]
    minutes: list[MinuteCount]
    periods: list[SleepPeriod]
    summary: NightSummary
    rejected: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    t_first: float = 0.0
    t_last: float = 0.0


def detect_csv(
    reader: SampleReader,
    rate_hz: float | None = None,
    config: DetectorConfig | None = None,
    progress: bool | None = None,
) -> DetectionResult:
    """Run the detector over a sample file, chunk by chunk.

    Args:
        reader: an open :class:`SampleReader`.  rate_hz: nominal rate, Hz (None: inferred from
            the first chunk's median time step).  progress: show a progress bar on stderr
            (None: only for large files).
    """
    show = progress if progress is not None else reader.size_bytes >= _PROGRESS_MIN_BYTES
    bar = tqdm(
        total=reader.size_bytes,
        unit="B",
        unit_scale=True,
        desc=reader.path.name,
        disable=not show,
        file=sys.stderr,
        leave=False,
    )
    det: JerkDetector | None = None
    agg: MinuteAggregator | None = None
    events: list[JerkEvent] = []
    minutes: list[MinuteCount] = []
    n = 0
    t_first = t_last = 0.0
    covered_s = 0.0
    with bar:
        for chunk in reader:
            if det is None:
                rate = rate_hz if rate_hz is not None else infer_rate_hz(chunk.t[:20_000])
                det = JerkDetector(rate, config)
                agg = MinuteAggregator(rate)
                t_first = float(chunk.t[0])
            assert agg is not None
            new = det.process(chunk.t, chunk.acc)
            events += new
            minutes += agg.process(chunk.t, new, det.watermark)
            covered_s += _covered(chunk.t, t_last if n else None, det.config.bridge_s(det.rate_hz))
            n += chunk.t.size
            t_last = float(chunk.t[-1])
            # The bar tracks bytes (its total is known up front), estimated from rows read.
            bar.update(min(int(chunk.t.size * reader.bytes_per_row), bar.total - bar.n))
    assert det is not None and agg is not None
    tail = det.flush()
    events += tail
    minutes += agg.process(np.empty(0), tail, det.watermark)
    minutes += agg.flush()
    periods = det.sleep_periods()
    return DetectionResult(
        rate_hz=det.rate_hz,
        events=events,
        minutes=minutes,
        periods=periods,
        summary=summarize(events, periods, t_last - t_first, covered_s),
        rejected=dict(det.rejected),
        samples=n,
        t_first=t_first,
        t_last=t_last,
    )


def _covered(t: np.ndarray, prev: float | None, bridge: float) -> float:
    """Seconds of signal in (n,) times: steps no longer than ``bridge`` s count."""
    tt = t if prev is None else np.concatenate(([prev], t))
    d = np.diff(tt)
    return float(d[d <= bridge].sum())
