"""Streaming myoclonic-jerk detector: pure, stateful, no I/O.

>>> from detector import JerkDetector
>>> det = JerkDetector(rate_hz=100.0)
>>> events = det.process(t, acc)   # t: (n,) s, acc: (n, 3) g; any chunking
>>> events += det.flush()
"""

from detector.aggregate import MinuteAggregator
from detector.config import DetectorConfig
from detector.core import JerkDetector
from detector.errors import (
    ConfigError,
    InputError,
    JerkmonError,
    ProtocolError,
    StorageError,
    TransportError,
)
from detector.events import JerkEvent, JerkKind, MinuteCount
from detector.sleep import SleepEstimator, SleepPeriod
from detector.summary import NightSummary, summarize

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DetectorConfig",
    "InputError",
    "JerkDetector",
    "JerkEvent",
    "JerkKind",
    "JerkmonError",
    "MinuteAggregator",
    "MinuteCount",
    "NightSummary",
    "ProtocolError",
    "SleepEstimator",
    "SleepPeriod",
    "StorageError",
    "TransportError",
    "__version__",
    "summarize",
]
