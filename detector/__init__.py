"""Streaming myoclonic-jerk detector: pure, stateful, no I/O.

>>> from detector import JerkDetector
>>> det = JerkDetector(rate_hz=100.0)
>>> events = det.process(t, acc)   # t: (n,) s, acc: (n, 3) g; any chunking
>>> events += det.flush()
"""

import importlib
from typing import TYPE_CHECKING, Any

from detector.errors import (
    ConfigError,
    InputError,
    JerkmonError,
    ProtocolError,
    StorageError,
    TransportError,
)

if TYPE_CHECKING:
    from detector.aggregate import MinuteAggregator
    from detector.config import DetectorConfig
    from detector.core import JerkDetector
    from detector.episodes import EpisodeDetector, EpisodeEvent, pair_episodes
    from detector.events import JerkEvent, JerkKind, JerkState, MinuteCount
    from detector.sleep import SleepEstimator, SleepPeriod
    from detector.sleepwindow import SleepWindow, main_sleep_window
    from detector.summary import NightSummary, summarize, summarize_detector
    from detector.wear import NotWorn, WearEstimator

# Names are imported on first use (PEP 562), so that importing one light module of this
# package (e.g. for the command line's parser) does not load NumPy, SciPy or pandas.
_LAZY: dict[str, str] = {
    "MinuteAggregator": "detector.aggregate",
    "DetectorConfig": "detector.config",
    "JerkDetector": "detector.core",
    "EpisodeDetector": "detector.episodes",
    "EpisodeEvent": "detector.episodes",
    "pair_episodes": "detector.episodes",
    "JerkEvent": "detector.events",
    "JerkKind": "detector.events",
    "JerkState": "detector.events",
    "MinuteCount": "detector.events",
    "SleepEstimator": "detector.sleep",
    "SleepPeriod": "detector.sleep",
    "SleepWindow": "detector.sleepwindow",
    "main_sleep_window": "detector.sleepwindow",
    "NightSummary": "detector.summary",
    "summarize": "detector.summary",
    "summarize_detector": "detector.summary",
    "NotWorn": "detector.wear",
    "WearEstimator": "detector.wear",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DetectorConfig",
    "EpisodeDetector",
    "EpisodeEvent",
    "InputError",
    "JerkDetector",
    "JerkEvent",
    "JerkKind",
    "JerkState",
    "JerkmonError",
    "MinuteAggregator",
    "MinuteCount",
    "NightSummary",
    "NotWorn",
    "ProtocolError",
    "SleepEstimator",
    "SleepPeriod",
    "SleepWindow",
    "StorageError",
    "TransportError",
    "WearEstimator",
    "__version__",
    "main_sleep_window",
    "pair_episodes",
    "summarize",
    "summarize_detector",
]
