"""A device clock far from any real time (1903, 9000) is dropped: device_time None, flag device_clock_implausible."""
from __future__ import annotations

import calendar

import pytest

from firmware_bridge.codecs import codec_for, implemented_protocols
from firmware_bridge.codecs.gatt_base import frame as ble_frame
from firmware_bridge.codecs.hl7_mllp import frame
from firmware_bridge.codecs.ieee11073 import encode_float, encode_sfloat
from firmware_bridge.flags import INFORMATIONAL, is_unreliable
from firmware_bridge.metrics import Metric
from firmware_bridge.reading import Reading

FLAG = "device_clock_implausible"


def ms(y: int, mo: int = 1, d: int = 1, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000


def date_time(y: int, mo: int = 6, d: int = 1) -> bytes:
    return y.to_bytes(2, "little") + bytes((mo, d, 12, 0, 0))


def gatt(protocol: str, year: int) -> list[Reading]:
    when = date_time(year)
    value = {
        "gatt-plx": b"\x01" + encode_sfloat(97) + encode_sfloat(61) + when,
        "gatt-temperature": b"\x02" + encode_float(371, -1) + when,
        "gatt-blood-pressure": b"\x02" + encode_sfloat(120) + encode_sfloat(80) + encode_sfloat(93) + when,
        "gatt-glucose": b"\x06\x01\x00" + when + encode_sfloat(55, -4) + b"\xf1",
    }[protocol]
    return codec_for(protocol).feed(value)


GATT_TIMED = ["gatt-plx", "gatt-temperature", "gatt-blood-pressure", "gatt-glucose"]


@pytest.mark.parametrize("protocol", GATT_TIMED)
@pytest.mark.parametrize("year", [1903, 1970, 1999, 2100, 2500, 9000, 9999])
def test_gatt_date_time_outside_the_window_is_dropped_and_flagged(protocol: str, year: int) -> None:
    readings = gatt(protocol, year)
    assert readings, "the values themselves stand"
    assert all(r.device_time is None and FLAG in r.flags for r in readings)


@pytest.mark.parametrize("protocol", GATT_TIMED)
@pytest.mark.parametrize("year", [2000, 2024, 2099])
def test_gatt_date_time_inside_the_window_is_kept(protocol: str, year: int) -> None:
    readings = gatt(protocol, year)
    assert readings and all(r.device_time == ms(year, 6, 1, 12) and FLAG not in r.flags for r in readings)


def hl7(obr7: str, obx14: str) -> list[Reading]:
    text = "\r".join(["MSH|^~\\&|MON||||20240301101500||ORU^R01|C1|P|2.6", f"OBR|1|||x|||{obr7}",
                      f"OBX|1|NM|150456^^MDC|1|97|262688^^MDC|||||R|||{obx14}"])
    return codec_for("hl7-oru").feed(frame(text.encode()))


@pytest.mark.parametrize("obr7, obx14", [("20240301101500", "19030101120000"), ("20240301101500", "90000101120000"),
                                         ("19030101120000", ""), ("90001231235959", ""),
                                         ("19991231235959+0000", "")])
def test_hl7_observation_time_outside_the_window_is_dropped_and_flagged(obr7: str, obx14: str) -> None:
    [r] = hl7(obr7, obx14)
    assert r.value == 97 and r.device_time is None and FLAG in r.flags


def test_hl7_observation_time_inside_the_window_is_kept() -> None:
    [r] = hl7("19030101120000", "20240301101500")  # OBX-14 is the observation's own time
    assert r.device_time == ms(2024, 3, 1, 10, 15) and r.flags == ()


@pytest.mark.parametrize("protocol", implemented_protocols())
@pytest.mark.parametrize("when, kept", [(ms(1903), False), (ms(1999, 12, 31, 23, 59, 59), False), (ms(2000), True),
                                        (ms(2099, 12, 31, 23, 59, 59), True), (ms(2100), False), (ms(9000), False)])
def test_every_codec_screens_device_times_alike(protocol: str, when: int, kept: bool) -> None:
    # Masimo (20YY) and Nonin DF13 (century 20; another is flagged as no real time) cannot give a year
    # outside 2000-2099 at all; the rule is the shared one all the same, where every codec's readings pass.
    codec = codec_for(protocol)
    [r] = codec._screen([Reading.of(Metric.SPO2, 97, device_time=when, flags=("smart_point",))])
    assert (r.device_time == when) is kept
    assert r.flags == (("smart_point",) if kept else ("smart_point", FLAG))


def test_the_flag_is_information() -> None:
    assert FLAG in INFORMATIONAL and not is_unreliable((FLAG,))


def test_framed_plx_spot_check_too() -> None:
    value = b"\x01" + encode_sfloat(97) + encode_sfloat(61) + date_time(1903)
    readings = codec_for("gatt-plx", framed=True).feed(ble_frame(0x2A5E, value))
    assert [r.device_time for r in readings] == [None, None] and all(FLAG in r.flags for r in readings)


def test_an_obx_14_of_the_unix_epoch_is_judged_not_replaced_by_obr_7() -> None:
    [r] = hl7("20240301101500", "19700101000000")  # parses to 0: a time, if an implausible one
    assert r.device_time is None and FLAG in r.flags


def df13(stamp: bytes) -> bytes:
    from firmware_bridge.codecs.nonin_frames import DF13_ETX, DF13_HEADER, checksum

    data = stamp + bytes((0x02, 0x00, 0x00, 72, 0, 97))
    return DF13_HEADER + len(data).to_bytes(2, "big") + data + bytes((checksum(data), DF13_ETX))


@pytest.mark.parametrize("stamp", ["1903010112000000", "9000010112000000", "2016130122474550", "ffffffffffffffff"])
def test_nonin_df13_stamp_that_is_no_real_time_is_flagged(stamp: str) -> None:
    codec = codec_for("nonin-df13")
    readings = codec.feed(df13(bytes.fromhex(stamp))) + codec.flush()
    assert [r.value for r in readings] == [97, 72]
    assert all(r.device_time is None and FLAG in r.flags for r in readings)


def test_nonin_df13_real_stamp_is_kept() -> None:
    codec = codec_for("nonin-df13")
    readings = codec.feed(df13(bytes.fromhex("2024030112300550"))) + codec.flush()
    assert all(r.device_time == ms(2024, 3, 1, 12, 30, 5) + 500 and FLAG not in r.flags for r in readings)
