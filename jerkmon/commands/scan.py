"""``jerkmon scan``: list nearby supported sensors (address, RSSI, kind, name)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.ble.scan import FoundSensor

from detector.errors import ConfigError, TransportError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scan`` subcommand to the jerkmon parser."""
    p = sub.add_parser(
        "scan",
        help="list nearby supported BLE sensors",
        description=(
            "Scan for Bluetooth LE accelerometers jerkmon can stream from (Polar H10 / Verity "
            "Sense / OH1 over PMD) and print address, RSSI, kind and name, strongest first. "
            "Use an address with 'jerkmon run --device'."
        ),
    )
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="scan time, s")
    p.add_argument(
        "--sim-ble",
        action="store_true",
        help="scan an in-process virtual radio with two emulated sensors (no hardware)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bleak.exc import BleakError

    from collector.ble.scan import scan_sensors

    if not args.timeout > 0:
        raise ConfigError(f"--timeout must be > 0, got {args.timeout}")
    if args.sim_ble:
        from sim.ble_sensor import run_virtual, scan_emulated

        found = run_virtual(scan_emulated(args.timeout))
    else:
        try:
            import asyncio

            found = asyncio.run(scan_sensors(args.timeout))
        except (BleakError, OSError) as exc:
            raise TransportError(
                f"cannot scan for BLE sensors ({exc}); is a Bluetooth adapter with BlueZ "
                "available? ('--sim-ble' scans a virtual radio)"
            ) from exc
    print_found(found)
    return 0


def print_found(found: list[FoundSensor]) -> None:
    if not found:
        print("no supported sensor found", file=sys.stderr)
        return
    print(f"{'ADDRESS':<17}  {'RSSI':>4}  {'KIND':<10}  NAME")
    for f in found:
        print(f"{f.address:<17}  {f.rssi:>4}  {f.kind:<10}  {f.name}")
