"""Golden, round-trip and fuzz tests of the pure PMD codecs (collector.protocols.pmd)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from collector.protocols.base import ScanFilter, normalize_uuid
from collector.protocols.pmd import (
    PMD_CONTROL_UUID,
    PMD_SERVICE_UUID,
    ControlOp,
    MeasurementType,
    PmdAccSettings,
    PmdStreamDecoder,
    PmdTimestamper,
    PolarPmdProfile,
    ResponseStatus,
    SettingType,
    decode_acc_frame,
    decode_delta_payload,
    encode_acc_counts,
    encode_acc_frame,
    encode_control_response,
    encode_delta_payload,
    encode_features,
    encode_get_settings,
    encode_settings,
    encode_start,
    encode_stop,
    max_samples_per_frame,
    merge_response_parts,
    pack_signed,
    parse_control_request,
    parse_control_response,
    parse_features,
    parse_settings,
    quantize_acc,
    unpack_signed,
)
from detector.errors import (
    ConfigError,
    ControlPointError,
    DeviceCapabilityError,
    FrameDecodeError,
    ProtocolError,
)


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


# ------------------------------------------------------------------------------------
# Golden vectors.  The three data frames are the ones in polar-ble-sdk's AccDataTest.kt
# (sources/Android/android-communications/.../pmd/model/AccDataTest.kt).
# ------------------------------------------------------------------------------------

POLAR_RAW_TYPE1 = hexbytes(
    "02 00 94 35 77 00 00 00 00 01"
    " F7 FF FF FF E7 03 F8 FF FE FF E5 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 FA FF FE FF"
    " E6 03 F9 FF FF FF E5 03 F8 FF FF FF E6 03 F8 FF FE FF E6 03 FA FF FF FF E5 03 FA FF"
    " FF FF E7 03 FA FF FF FF E5 03 F8 FF FF FF E6 03 F7 FF FF FF E6 03 F8 FF FE FF E6 03"
    " F9 FF FE FF E7 03 F9 FF 00 00 E6 03 F9 FF FF FF E6 03 F7 FF FE FF E5 03 F9 FF FF FF"
    " E5 03 F9 FF FF FF E5 03 FA FF 00 00 E6 03 F9 FF FE FF E6 03 F8 FF FF FF E6 03 F8 FF"
    " FF FF E5 03 F9 FF FF FF E6 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 F9 FF FF FF E5 03"
    " F9 FF FF FF E5 03 F8 FF FE FF E6 03 F9 FF FF FF E6 03 F9 FF FF FF E6 03 F9 FF 00 00"
    " E5 03 F9 FF FE FF E6 03 F8 FF FE FF E6 03 F7 FF FE FF E6 03"
)

POLAR_COMPRESSED_TYPE0 = hexbytes(
    "02 00 94 35 77 00 00 00 00 80"
    " 71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F"
    " 92 BF EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E"
    " 7B 2F 8B E3 CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC"
    " 18 FE 3B 2F 84 03 BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7"
    " F1 B9 FC 7D BC 2E 7D 27 9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3"
    " 92 F7 F3 B8 E0 0D FD 2D 77 4B 7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC"
    " D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B 4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F"
    " 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F 1F CB DA E3 C7 A2 76 F9"
)

POLAR_COMPRESSED_TYPE1 = hexbytes("02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08")


def test_notes_start_command_golden() -> None:
    cmd = encode_start(
        MeasurementType.ACC,
        {SettingType.SAMPLE_RATE: 200, SettingType.RESOLUTION: 16, SettingType.RANGE: 8},
    )
    assert cmd == hexbytes("02 02 00 01 C8 00 01 01 10 00 02 01 08 00")
    req = parse_control_request(cmd)
    assert req.op == ControlOp.START and req.measurement_type == MeasurementType.ACC
    assert req.settings == {0: (200,), 1: (16,), 2: (8,)}


def test_stop_and_get_settings_commands() -> None:
    assert encode_stop() == b"\x03\x02"
    assert encode_get_settings() == b"\x01\x02"
    with pytest.raises(ConfigError):
        encode_start(MeasurementType.ACC, {SettingType.FACTOR: 1})


def test_polar_raw_type1_frame() -> None:
    frame = decode_acc_frame(POLAR_RAW_TYPE1)
    assert frame.timestamp_ns == 2_000_000_000
    assert (frame.frame_type, frame.compressed) == (1, False)
    assert frame.n_samples == (len(POLAR_RAW_TYPE1) - 10) // 6 == 36
    assert frame.counts[0].tolist() == [-9, -1, 999]
    assert frame.counts[1].tolist() == [-8, -2, 997]
    assert frame.counts[-1].tolist() == [-9, -2, 998]
    np.testing.assert_allclose(frame.acc_g[0], [-0.009, -0.001, 0.999])


def test_polar_compressed_type0_frame_and_timestamps() -> None:
    factor = float(np.float32(2.44e-4))
    frame = decode_acc_frame(POLAR_COMPRESSED_TYPE0, factor=factor)
    assert frame.n_samples == 57  # reference sample + a 56-sample block of 10-bit deltas
    assert frame.counts[0].tolist() == [1905, 27376, -29282]
    assert frame.counts[1].tolist() == [1905 + 190, 27376 - 105, -29282 - 85]
    # The SDK reports int(factor * count * 1000) milli-g; we keep g as float.
    mg = (frame.counts * np.float32(factor) * np.float32(1000)).astype(np.int64)
    np.testing.assert_allclose(frame.acc_g * 1000, mg, atol=1.0)
    assert np.all(np.abs(frame.acc_g) <= 8.0)
    # Timestamps as in the SDK test: previous frame at 100 ns, spaced evenly to the last.
    ts = PmdTimestamper(nominal_rate_hz=57 / 2.0)  # the test frame spans 2 s for 57 samples
    ts.stamp(100, 1)
    stamped = ts.stamp(frame.timestamp_ns, frame.n_samples)
    delta = (2_000_000_000 - 100) / 57
    assert stamped.t_ns[0] == round(100 + delta)
    assert stamped.t_ns[-1] == 2_000_000_000
    assert stamped.gap_before_ns is None


def test_polar_compressed_type1_frame_and_tie_rounding() -> None:
    frame = decode_acc_frame(POLAR_COMPRESSED_TYPE1, factor=1.0)
    assert frame.counts.tolist() == [[-15, 20, 1008], [-20, 17, 1008]]
    np.testing.assert_allclose(frame.acc_g[1], [-0.020, 0.017, 1.008])
    ts = PmdTimestamper(nominal_rate_hz=1e9)  # period 1 ns, so 101-100 is no gap
    ts.stamp(100, 1)
    stamped = ts.stamp(frame.timestamp_ns, 2)
    assert stamped.t_ns.tolist() == [100, 101]  # 100.5 rounds half to even, as in the SDK


def test_control_response_golden() -> None:
    ok = parse_control_response(hexbytes("F0 01 02 00 00 FF FF FF"))
    assert (ok.op, ok.measurement_type, ok.status, ok.more) == (1, 2, 0, False)
    assert ok.params == b"\xff\xff\xff" and ok.ok
    bad = parse_control_response(hexbytes("F0 01 06 07 00"))
    assert bad.status_name == "INVALID_RESOLUTION" and bad.params == b""
    with pytest.raises(ControlPointError) as err:
        bad.raise_for_status()
    assert err.value.status == 7 and err.value.status_name == "INVALID_RESOLUTION"
    assert "INVALID_RESOLUTION" in str(err.value)
    for garbled in (b"", b"\xf0\x01", hexbytes("0F 01 02 00 00")):
        with pytest.raises(ControlPointError):
            parse_control_response(garbled)


def test_settings_answer_golden_h10() -> None:
    # H10 answer to "get ACC settings": rates 25/50/100/200, 16 bit, ranges 2/4/8 g.
    answer = hexbytes(
        "F0 01 02 00 00 00 04 19 00 32 00 64 00 C8 00 01 01 10 00 02 03 02 00 04 00 08 00"
    )
    settings = parse_settings(parse_control_response(answer).params)
    assert settings == {0: (25, 50, 100, 200), 1: (16,), 2: (2, 4, 8)}
    assert encode_settings(settings) == parse_control_response(answer).params
    factor = parse_settings(encode_settings({SettingType.FACTOR: (2.44e-4,)}))[5][0]
    assert math.isclose(float(factor), 2.44e-4, rel_tol=1e-6)
    for broken in (b"\x00", b"\x00\x02\x19\x00", b"\x09\x01\x00\x00"):
        with pytest.raises(ControlPointError):
            parse_settings(broken)


def test_features_roundtrip() -> None:
    assert parse_features(hexbytes("0F 05 00")) == {MeasurementType.ECG, MeasurementType.ACC}
    both = {MeasurementType.ACC, MeasurementType.LOCATION}
    assert parse_features(encode_features(both)) == both
    with pytest.raises(ControlPointError):
        parse_features(b"\xf0\x04")


def test_response_continuation_merge() -> None:
    first = encode_control_response(1, 2, 0, b"\x00\x01\x19\x00", more=True)
    assert merge_response_parts([first]) is None
    merged = merge_response_parts([first, b"\x00\x01\x01\x10\x00"])
    assert merged is not None
    assert parse_settings(parse_control_response(merged).params) == {0: (25,), 1: (16,)}


# ------------------------------------------------------------------------------------
# Hand-built frames
# ------------------------------------------------------------------------------------


def test_hand_built_delta_frame_with_odd_widths() -> None:
    # Reference (100, -200, 1000); block A: 3-bit deltas (+1,-1,+3),(-4,0,2);
    # block B: 13-bit deltas (4095,-4096,-1).  Packed LSB-first by hand.
    ref = struct.pack("<hhh", 100, -200, 1000)
    a_vals = [1, -1, 3, -4, 0, 2]
    a_bits = 0
    for i, v in enumerate(a_vals):
        a_bits |= (v & 0b111) << (3 * i)
    block_a = bytes([3, 2]) + a_bits.to_bytes(3, "little")  # 18 bits -> 3 bytes
    b_vals = [4095, -4096, -1]
    b_bits = 0
    for i, v in enumerate(b_vals):
        b_bits |= (v & 0x1FFF) << (13 * i)
    block_b = bytes([13, 1]) + b_bits.to_bytes(5, "little")  # 39 bits -> 5 bytes
    payload = b"\x02" + (123456789).to_bytes(8, "little") + b"\x81" + ref + block_a + block_b
    frame = decode_acc_frame(payload)
    assert frame.counts.tolist() == [
        [100, -200, 1000],
        [101, -201, 1003],
        [97, -201, 1005],
        [97 + 4095, -201 - 4096, 1004],
    ]
    assert frame.timestamp_ns == 123456789
    # 0b10000110 etc: first byte of block A holds delta0 (001), delta1 (111), low 2 bits of 3
    assert block_a[2] == (1 | (0b111 << 3) | ((3 & 0b11) << 6))


def test_hand_built_raw_frames_8_16_24_bit() -> None:
    counts = np.array([[1, -2, 127], [-128, 0, 5]], dtype=np.int64)
    f8 = decode_acc_frame(b"\x02" + bytes(8) + b"\x00" + bytes([1, 0xFE, 0x7F, 0x80, 0, 5]))
    assert f8.counts.tolist() == counts.tolist()
    raw24 = (8_000_000).to_bytes(3, "little", signed=True) + (-1).to_bytes(3, "little", signed=True)
    raw24 += (-8_388_608).to_bytes(3, "little", signed=True)
    f24 = decode_acc_frame(b"\x02" + bytes(8) + b"\x02" + raw24)
    assert f24.counts.tolist() == [[8_000_000, -1, -8_388_608]]
    assert f24.acc_g[0, 0] == pytest.approx(8000.0)
    for ftype in (0, 1, 2):
        frame = encode_acc_counts(counts, 42, ftype, compressed=False)
        assert decode_acc_frame(frame).counts.tolist() == counts.tolist()


@pytest.mark.parametrize("width", list(range(1, 33)))
def test_pack_unpack_all_widths(width: int) -> None:
    rng = np.random.default_rng(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = rng.integers(lo, hi + 1, size=37, dtype=np.int64)
    values[:2] = [lo, hi]
    packed = pack_signed(values, width)
    assert len(packed) == (37 * width + 7) // 8
    np.testing.assert_array_equal(unpack_signed(packed, width, 37), values)


@pytest.mark.parametrize(
    "compressed,ftype", [(False, 0), (False, 1), (False, 2), (True, 0), (True, 1)]
)
def test_encode_decode_roundtrip(compressed: bool, ftype: int) -> None:
    rng = np.random.default_rng(7)
    acc = np.cumsum(rng.normal(0, 0.02, size=(70, 3)), axis=0) + np.array([0.0, 0.0, 1.0])
    factor = 8 / 32768 if (compressed and ftype == 0) else None
    payload = encode_acc_frame(acc, 10**12, ftype, compressed, factor=factor, block_samples=16)
    frame = decode_acc_frame(payload, factor=factor)
    expected = quantize_acc(acc, ftype, compressed, factor)
    np.testing.assert_array_equal(frame.counts, expected)
    assert frame.timestamp_ns == 10**12 and frame.compressed == compressed


def test_delta_payload_roundtrip_random_blocks() -> None:
    rng = np.random.default_rng(3)
    for trial in range(200):
        n = int(rng.integers(1, 400))
        scale = float(rng.choice([1, 10, 300, 20000]))
        walk = np.cumsum(rng.normal(0, scale, size=(n, 3)), axis=0)
        counts = np.clip(np.rint(walk), -32768, 32767).astype(np.int64)
        block = int(rng.integers(1, 256))
        body = encode_delta_payload(counts, block_samples=block)
        np.testing.assert_array_equal(decode_delta_payload(body), counts, err_msg=str(trial))


def test_max_samples_per_frame_fits() -> None:
    assert max_samples_per_frame(229, 1, False) == 36
    rng = np.random.default_rng(1)
    n = max_samples_per_frame(229, 1, True, delta_width=16)
    acc = rng.uniform(-8, 8, size=(n, 3))
    assert len(encode_acc_frame(acc, 1, 1, True, block_samples=255)) <= 229


# ------------------------------------------------------------------------------------
# Errors, timestamps, profile
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,kind",
    [
        (b"\x02\x00", "truncated_header"),
        (b"\x00" + bytes(9) + b"\x01\x00\x00", "wrong_measurement_type"),
        (b"\x02" + bytes(8) + b"\x05" + bytes(6), "unsupported_frame_type"),
        (b"\x02" + bytes(8) + b"\x82" + bytes(6), "unsupported_frame_type"),
        (b"\x02" + bytes(8) + b"\x01" + bytes(7), "truncated_sample"),
        (b"\x02" + bytes(8) + b"\x01", "empty"),
        (b"\x02" + bytes(8) + b"\x81" + bytes(5), "truncated_reference"),
        (b"\x02" + bytes(8) + b"\x81" + bytes(6) + b"\x04", "truncated_block_header"),
        (b"\x02" + bytes(8) + b"\x81" + bytes(6) + b"\x21\x01" + bytes(20), "bad_delta_width"),
        (b"\x02" + bytes(8) + b"\x81" + bytes(6) + b"\x00\x01", "bad_delta_width"),
        (b"\x02" + bytes(8) + b"\x81" + bytes(6) + b"\x0a\x10\x00", "truncated_block"),
        (b"\x02" + bytes(8) + b"\x80" + bytes(6), "missing_factor"),
        (b"\x02" + b"\xff" * 8 + b"\x01" + bytes(6), "bad_timestamp"),
    ],
)
def test_bad_frames_raise_typed_errors(payload: bytes, kind: str) -> None:
    with pytest.raises(FrameDecodeError) as err:
        decode_acc_frame(payload)
    assert err.value.kind == kind
    assert isinstance(err.value, ProtocolError)


def test_timestamper_first_frame_gap_and_reset() -> None:
    ts = PmdTimestamper(nominal_rate_hz=100)
    first = ts.stamp(1_000_000_000, 4)
    assert first.t_ns.tolist() == [970_000_000, 980_000_000, 990_000_000, 1_000_000_000]
    nxt = ts.stamp(1_040_000_000, 4)
    assert nxt.t_ns.tolist() == [1_010_000_000, 1_020_000_000, 1_030_000_000, 1_040_000_000]
    assert nxt.gap_before_ns is None
    # a dropped frame of 4 samples: the span is 8 periods for 4 samples
    after_drop = ts.stamp(1_120_000_000, 4)
    assert after_drop.gap_before_ns == (1_040_000_000, 1_090_000_000)
    assert after_drop.t_ns[0] == 1_090_000_000
    # the sensor clock restarts
    reset = ts.stamp(5_000_000, 4)
    assert reset.clock_reset and reset.t_ns[-1] == 5_000_000
    # slow drift of the real rate is followed, not reported as gaps
    t = 5_000_000
    for _ in range(200):
        t += int(4 * 10_000_000 * 1.002)
        s = ts.stamp(t, 4)
        assert s.gap_before_ns is None and not s.clock_reset
    assert ts.period_ns == pytest.approx(10_020_000, rel=1e-4)


def test_profile_plans_start_from_offer() -> None:
    offer = encode_control_response(
        1, 2, 0, encode_settings({0: (25, 50, 100, 200), 1: (16,), 2: (2, 4, 8)})
    )
    profile = PolarPmdProfile()
    steps = profile.start_steps({"get_settings": offer})
    assert [s.name for s in steps] == ["stop", "start"]
    assert steps[1].data == encode_start(2, {0: 100, 1: 16, 2: 8})
    assert steps[1].char_uuid == PMD_CONTROL_UUID
    h10 = PolarPmdProfile(PmdAccSettings(sample_rate_hz=200, range_g=8))
    assert h10.start_steps({"get_settings": offer})[1].data == hexbytes(
        "02 02 00 01 C8 00 01 01 10 00 02 01 08 00"
    )
    with pytest.raises(DeviceCapabilityError):
        PolarPmdProfile(PmdAccSettings(sample_rate_hz=52)).start_steps({"get_settings": offer})
    with pytest.raises(DeviceCapabilityError):
        profile.check_features(hexbytes("0F 01 00"))
    profile.check_features(hexbytes("0F 05 00"))
    bad = encode_control_response(2, 2, ResponseStatus.INVALID_SAMPLE_RATE)
    with pytest.raises(ControlPointError, match="INVALID_SAMPLE_RATE"):
        profile.check_response(steps[1], bad)
    with pytest.raises(ConfigError):
        PmdAccSettings(resolution_bits=12)


def test_profile_scan_filter() -> None:
    f = PolarPmdProfile().scan_filter
    assert f.matches("Polar Sense EMU1", [])
    assert f.matches("Polar H10 12345678", ["180d"])
    assert f.matches(None, [PMD_SERVICE_UUID.upper()])
    assert not f.matches("Fitbit", ["180d"])
    assert normalize_uuid("180F") == "0000180f-0000-1000-8000-00805f9b34fb"
    with pytest.raises(ConfigError):
        ScanFilter()


def test_stream_decoder_uses_start_answer_factor_and_counts_errors() -> None:
    dec = PmdStreamDecoder(nominal_rate_hz=100)
    start_req = encode_start(2, {0: 50, 1: 16, 2: 8})
    answer = encode_control_response(2, 2, 0, encode_settings({5: (8 / 32768,)}))
    dec.configure({"start": answer, "start_request": start_req})
    assert dec.sample_rate_hz == 50
    acc = np.array([[0.0, 0.5, 1.0], [0.1, 0.4, 1.0]])
    frame = dec.decode(encode_acc_frame(acc, 10**9, 0, True, factor=8 / 32768))
    np.testing.assert_allclose(frame.acc_g, acc, atol=8 / 32768)
    np.testing.assert_allclose(np.diff(frame.t_sensor_s), [0.02])
    with pytest.raises(FrameDecodeError):
        dec.decode(b"\x02\x00")
    assert dec.stats.frames_ok == 1 and dec.stats.frames_bad == {"truncated_header": 1}


# ------------------------------------------------------------------------------------
# Fuzz: 100,000 random and mutated frames never crash the decoder
# ------------------------------------------------------------------------------------


def test_fuzz_100k_frames_only_typed_errors() -> None:
    rng = np.random.default_rng(20240601)
    seeds = [POLAR_RAW_TYPE1, POLAR_COMPRESSED_TYPE0, POLAR_COMPRESSED_TYPE1]
    for ftype, comp in [(0, False), (1, False), (2, False), (0, True), (1, True)]:
        acc = rng.normal(0, 0.5, size=(30, 3))
        f = 8 / 32768 if comp and ftype == 0 else None
        seeds.append(encode_acc_frame(acc, 10**15, ftype, comp, factor=f, block_samples=7))
    dec = PmdStreamDecoder(nominal_rate_hz=52)
    dec.configure({"start": encode_control_response(2, 2, 0, encode_settings({5: (0.001,)}))})
    n_total, n_ok = 100_000, 0
    for i in range(n_total):
        mode = i % 4
        if mode == 0:  # random bytes, plausible header
            body = rng.integers(0, 256, size=int(rng.integers(0, 240)), dtype=np.uint8)
            payload = bytes([2]) + bytes(rng.integers(0, 256, 9, dtype=np.uint8)) + body.tobytes()
        elif mode == 1:  # fully random
            payload = rng.integers(0, 256, size=int(rng.integers(0, 260)), dtype=np.uint8).tobytes()
        else:  # mutate a valid frame: flip bits, truncate, extend, splice
            buf = bytearray(seeds[int(rng.integers(len(seeds)))])
            for _ in range(int(rng.integers(1, 6))):
                op = int(rng.integers(4))
                if op == 0 and buf:
                    j = int(rng.integers(len(buf)))
                    buf[j] ^= 1 << int(rng.integers(8))
                elif op == 1:
                    del buf[int(rng.integers(len(buf) + 1)) :]
                elif op == 2:
                    buf += rng.integers(
                        0, 256, size=int(rng.integers(1, 20)), dtype=np.uint8
                    ).tobytes()
                elif buf:
                    j = int(rng.integers(len(buf)))
                    buf[j] = int(rng.integers(256))
            payload = bytes(buf)
        try:
            frame = dec.decode(payload)
        except FrameDecodeError:
            continue
        n_ok += 1
        assert frame.acc_g.shape == (frame.n_samples, 3)
        assert frame.t_sensor_s.shape == (frame.n_samples,)
        assert np.all(np.isfinite(frame.acc_g))
    assert dec.stats.frames_ok == n_ok
    assert dec.stats.frames_ok + dec.stats.frames_bad_total == n_total
    assert dec.stats.frames_bad_total > 10_000 and n_ok > 10_000
