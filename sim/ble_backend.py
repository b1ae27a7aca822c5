"""A bleak backend that drives a bumble central on an in-process virtual BLE link.

``BleakClient(address, backend=BumbleClientBackend)`` and
``BleakScanner(backend=BumbleScannerBackend)`` then talk, through bumble's real host stack
(HCI, L2CAP, ATT, GATT) and its virtual controllers, to peripherals on the same
:class:`SimRadio` - e.g. :class:`sim.ble_sensor.EmulatedPmdSensor`.  Nothing above bleak
changes: the collector session uses bleak's public API only.

bleak 3.1 requires of a client backend (``bleak.backends.client.BaseBleakClient``
abstract members): ``connect``, ``disconnect``, ``pair``, ``unpair``, ``is_connected``,
``mtu_size``, ``read_gatt_char``, ``read_gatt_descriptor``, ``write_gatt_char``,
``write_gatt_descriptor``, ``start_notify``, ``stop_notify``; and of a scanner backend
(``BaseBleakScanner``): ``start`` and ``stop``.  Both constructors receive bleak's extra
keyword arguments (``bluez=``, ``winrt=``, ``cb=``, ``pair=``, ...), which are ignored
here except ``radio=`` (a :class:`SimRadio`; default: the running loop's
:func:`default_radio`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

logger = logging.getLogger(__name__)

DEFAULT_CENTRAL_ADDRESS = "C0:CE:00:00:00:01"
#: ATT MTU the central asks for (Polar sensors accept 232).
REQUESTED_MTU = 247


def uuid_str(uuid: core.UUID) -> str:
    """bumble UUID -> bleak's normalized lower-case 128-bit string."""
    return normalize_uuid_str(uuid.to_hex_str("-").lower())


def address_str(address: hci.Address) -> str:
    """bumble address -> ``"AA:BB:CC:DD:EE:FF"`` (without bumble's ``/P`` suffix)."""
    return str(address).split("/")[0].upper()


class SimRadio:
    """One virtual radio environment: a bumble ``LocalLink`` shared by peripherals and by a
    central (the "host adapter") that the bleak backends drive.

    Peripherals attach with :meth:`new_device`; the central is created and powered on
    lazily by :meth:`central`.  One radio per event loop is the default
    (:func:`default_radio`).
    """

    def __init__(self, central_address: str = DEFAULT_CENTRAL_ADDRESS) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.central_address = central_address
        self._central: Device | None = None
        self._central_ready: asyncio.Future[Device] | None = None
        self._scanners = 0

    def new_device(self, name: str, address: str) -> Device:
        """A bumble device (host + virtual controller) on this radio's link (not powered)."""
        controller = Controller(f"ctrl-{name}", link=self.link, public_address=address)
        host = Host(controller, AsyncPipeSink(controller))
        return Device(name=name, address=hci.Address(address), host=host)

    async def central(self) -> Device:
        """The central device, powered on at first use."""
        if self._central_ready is None:
            loop = asyncio.get_running_loop()
            self._central_ready = loop.create_future()
            try:
                device = self.new_device("jerkmon-central", self.central_address)
                await device.power_on()
            except BaseException as exc:
                self._central_ready.set_exception(exc)
                self._central_ready = None
                raise
            self._central = device
            self._central_ready.set_result(device)
        return await asyncio.shield(self._central_ready)

    async def start_scanning(self) -> Device:
        central = await self.central()
        self._scanners += 1
        if self._scanners == 1 and not central.is_scanning:
            await central.start_scanning(filter_duplicates=False)
        return central

    async def stop_scanning(self) -> None:
        if self._scanners == 0:
            return
        self._scanners -= 1
        central = await self.central()
        if self._scanners == 0 and central.is_scanning:
            await central.stop_scanning()


_default_radios: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SimRadio] = (
    weakref.WeakKeyDictionary()
)


def default_radio() -> SimRadio:
    """The running event loop's shared :class:`SimRadio` (created on first use)."""
    loop = asyncio.get_running_loop()
    radio = _default_radios.get(loop)
    if radio is None:
        radio = SimRadio()
        _default_radios[loop] = radio
    return radio


@dataclass(frozen=True, slots=True)
class SimDeviceDetails:
    """``BLEDevice.details`` of a device seen on a :class:`SimRadio`."""

    radio: SimRadio
    advertisement: Advertisement


def advertisement_data(adv: Advertisement) -> AdvertisementData:
    """bumble advertisement -> bleak ``AdvertisementData``."""
    data = adv.data
    T = core.AdvertisingData.Type
    name: str | None = None
    for kind in (T.COMPLETE_LOCAL_NAME, T.SHORTENED_LOCAL_NAME):
        values = data.get_all(kind)
        if values:
            name = str(values[0])
            break
    manufacturer: dict[int, bytes] = {}
    for company, payload in data.get_all(T.MANUFACTURER_SPECIFIC_DATA):
        manufacturer[company] = bytes(payload)
    service_data: dict[str, bytes] = {}
    for kind in (T.SERVICE_DATA_16_BIT_UUID, T.SERVICE_DATA_32_BIT_UUID):
        for sd_item in data.get_all(kind):
            su, sd_payload = cast(tuple[core.UUID, bytes], sd_item)
            service_data[uuid_str(su)] = bytes(sd_payload)
    uuids: list[str] = []
    for kind in (
        T.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        T.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        T.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        T.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        T.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        T.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for uuid_list in data.get_all(kind):
            for u in cast(list[core.UUID], uuid_list):
                s = uuid_str(u)
                if s not in uuids:
                    uuids.append(s)
    tx = data.get_all(T.TX_POWER_LEVEL)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=int(tx[0]) if tx else None,
        rssi=int(adv.rssi),
        platform_data=(adv,),
    )


class BumbleScannerBackend(BaseBleakScanner):
    """bleak scanner backend: reports advertisements heard by the radio's central."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        radio: SimRadio | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = radio
        self._central: Device | None = None
        self._scanning = False

    async def start(self) -> None:
        radio = self._radio or default_radio()
        self._radio = radio
        self.seen_devices = {}
        central = await radio.start_scanning()
        self._central = central
        central.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._scanning = True

    async def stop(self) -> None:
        if not self._scanning or self._central is None or self._radio is None:
            return
        self._scanning = False
        self._central.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._radio.stop_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        if not self._scanning or self._radio is None:
            return
        ad = advertisement_data(adv)
        if not self.is_allowed_uuid(ad.service_uuids):
            return
        address = address_str(adv.address)
        device = self.create_or_update_device(
            address, address, ad.local_name, SimDeviceDetails(self._radio, adv), ad
        )
        self.call_detection_callbacks(device, ad)


def _properties(flags: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if flags & bit]


class BumbleClientBackend(BaseBleakClient):
    """bleak client backend: a GATT client over a bumble LE connection."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        radio: SimRadio | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._name = self.address
        if isinstance(address_or_ble_device, BLEDevice):
            details = address_or_ble_device.details
            if isinstance(details, SimDeviceDetails) and radio is None:
                radio = details.radio
            self._name = address_or_ble_device.name or self.address
        self._radio = radio
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnecting = False
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    # -- connection -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        radio = self._radio or default_radio()
        self._radio = radio
        timeout = float(kwargs.get("timeout", self._timeout))
        central = await radio.central()
        try:
            connection = await central.connect(hci.Address(self.address), timeout=timeout)
        except core.TimeoutError as exc:
            raise TimeoutError(f"no connection to {self.address} within {timeout} s") from exc
        except core.BaseBumbleError as exc:
            raise BleakDeviceNotFoundError(self.address, f"connect failed: {exc}") from exc
        self._connection = connection
        self._disconnecting = False
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(connection)
            self._peer = peer
            await peer.request_mtu(REQUESTED_MTU)
            self.services = await self._discover(peer)
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            bservice = BleakGATTService(service, service.handle, uuid_str(service.uuid))
            collection.add_service(bservice)
            await service.discover_characteristics()
            for char in service.characteristics:
                await char.discover_descriptors()
                bchar = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    uuid_str(char.uuid),
                    _properties(int(char.properties)),
                    lambda: self.mtu_size - 3,
                    bservice,
                )
                collection.add_characteristic(bchar)
                for desc in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, uuid_str(desc.type), bchar)
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        solicited = self._disconnecting
        self._connection = None
        self._peer = None
        self._subscriptions.clear()
        logger.debug("%s disconnected (reason 0x%02x)", self.address, reason)
        if not solicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnecting = True
        try:
            await connection.disconnect()
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            logger.debug("disconnect of %s: %s", self.address, exc)
        finally:
            self._connection = None
            self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("pairing is not supported by the bumble simulation backend")

    async def unpair(self) -> None:
        raise BleakError("pairing is not supported by the bumble simulation backend")

    # -- GATT I/O ---------------------------------------------------------------------

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    async def _guard(self, op: Callable[[], Any]) -> Any:
        try:
            return await op()
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(int(exc.error_code)) from exc
        except (core.BaseBumbleError, asyncio.CancelledError) as exc:
            if self._connection is None:
                raise BleakError(f"{self.address} disconnected during a GATT operation") from exc
            raise

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._guard(lambda: peer.read_value(characteristic.handle))
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._guard(lambda: peer.read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        peer = self._require_peer()
        payload = bytes(data)
        await self._guard(
            lambda: peer.write_value(characteristic.handle, payload, with_response=response)
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        peer = self._require_peer()
        payload = bytes(data)
        await self._guard(lambda: peer.write_value(descriptor.handle, payload, with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require_peer()
        proxy = cast(CharacteristicProxy[bytes], characteristic.obj)

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = deliver
        await self._guard(lambda: proxy.subscribe(deliver, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require_peer()
        proxy = cast(CharacteristicProxy[bytes], characteristic.obj)
        deliver = self._subscriptions.pop(characteristic.handle, None)
        await self._guard(lambda: proxy.unsubscribe(deliver))
