"""BLE collector: one thin async adapter over bleak (``session``), pure clock mapping
(``clock``) and scanning (``scan``).

Wiring a live pipeline (``jerkmon run --device ADDR --side left``; the real thing is
``jerkmon.commands.run.BleRun``)::

    from collector.ble.session import BleSession, SessionConfig
    from jerkmon.live.pipeline import consume
    from collector.sources import session_source

    sessions = [BleSession(SessionConfig(address=a, side=s, link_events=True)) for a, s in ...]
    await consume(pipeline, session_source(sessions, stop))   # stop: an asyncio.Event
    # items: SampleBatch | GapRecord | BatteryReading | LinkEvent, taken by the pipeline as
    # they are; stop.set() (signal handler) stops every session, which yields what it holds

With ``--sim-ble`` the same session runs against emulated sensors on an in-process bumble
radio; only the backends and the host clock change::

    from sim.ble_backend import BumbleClientBackend, BumbleScannerBackend
    from sim.ble_sensor import SimClock, start_emulated_sensors, EMULATED_SENSORS

    clock = SimClock(origin_s=time.time(), speed=1.0)      # t must be on this time base
    sensors = await start_emulated_sensors({"left": (t + clock.origin_s, acc)}, clock)
    session = BleSession(
        SessionConfig(address=EMULATED_SENSORS["left"][0], side="left"),
        client_backend=BumbleClientBackend,
        scanner_backend=BumbleScannerBackend,
        host_clock=clock,
    )

``jerkmon run --sim-ble`` does this with ``sim.ble_sensor.start_night_sensors`` (a simulated
night, sensor clocks seconds off and drifting, faults from ``FaultPlan``).

Samples are held back until the clock mapping has settled - by default until a drift
estimate exists (2 min of data at the start of a session, 60 s after a sensor clock reset);
set ``SessionConfig(clock=ClockMapConfig(wait_for_drift=False, settle_s=...))`` for lower
start-up latency at the price of a few ms of timestamp error in the first minutes.
"""
