"""The live status line: one line on stderr, rewritten once a second."""

from __future__ import annotations

import asyncio
import sys
import time

from storage import Storage

from .pipeline import NightPipeline

__all__ = ["StatusLine", "wall_sleep"]


async def wall_sleep(seconds: float) -> None:
    """Sleep in wall-clock time, also on the virtual-time loop of ``--sim-ble --speed max``
    (where ``asyncio.sleep`` returns as soon as nothing else is ready)."""
    await asyncio.to_thread(time.sleep, seconds)


class StatusLine:
    """One line on stderr (a TTY), rewritten once a second (of wall-clock time)."""

    def __init__(self, enabled: bool, quiet: bool = False) -> None:
        self.enabled = enabled
        self.quiet = quiet  # no notes either
        self._width = 0

    async def run(self, pipeline: NightPipeline, storage: Storage) -> None:
        if not self.enabled:
            return
        while True:
            self.show(pipeline, storage)
            for _ in range(5):  # short sleeps: a cancelled ticker must not delay the exit
                await wall_sleep(0.2)

    def show(self, pipeline: NightPipeline, storage: Storage) -> None:
        last = pipeline.span()[1]
        clock = time.strftime("%H:%M:%S", time.localtime(last)) if last else "--:--:--"
        off = [s.side for s in pipeline.sensors if pipeline.not_worn(s.sensor)]
        text = (
            f"{clock}  samples {pipeline.samples:,}  jerks {pipeline.jerks}  "
            + (f"NOT WORN: {', '.join(off)}  " if off else "")
            + f"{storage.status().summary()}"
        )
        self._width = max(self._width, len(text))
        sys.stderr.write("\r" + text.ljust(self._width))
        sys.stderr.flush()

    def note(self, text: str) -> None:
        """A message line above the status line (none when quiet)."""
        if self.quiet:
            return
        if self.enabled and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0
