"""The codec's skip counters reach the driver's counters (and so `edge-app doctor`), across reconnects."""
from __future__ import annotations

import asyncio

import pytest

from firmware_bridge.codecs.hl7_mllp import frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec
from firmware_bridge.codecs.masimo_ascii import MasimoAsciiCodec
from firmware_bridge.driver import Driver
from firmware_bridge.errors import TransportError
from tests.firmware_bridge.test_driver import FakeTransport, Recorder
from tests.firmware_bridge.waiting import wait_for

IMPLAUSIBLE = b"02/22/16 22:47:45 SPO2=012% BPM=097 PI=03.60% ALARM=0000 EXC=000000\r\n"
CONFLICT = frame(b"MSH|^~\\&|MON||||20240301101500||ORU^R01|C1|P|2.6\r"
                 b"OBX|1|NM|150031^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.9.150021|120|266016^^MDC|||||R\r"
                 b"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|262688^^MDC|||||R\r")


async def test_skips_are_counted_by_reason_and_survive_the_codec_reset() -> None:
    fake, rec = FakeTransport(), Recorder()
    driver = Driver("x", fake, MasimoAsciiCodec(), on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    fake.chunks.put_nowait(IMPLAUSIBLE)
    await wait_for(lambda: driver.status.counters.get("skipped_implausible") == 1, what="the first skip")
    assert "implausible_value" in driver.status.status_flags
    fake.chunks.put_nowait(TransportError("unplugged"))
    fake.chunks.put_nowait(IMPLAUSIBLE)
    await wait_for(lambda: driver.status.counters.get("skipped_implausible") == 2, what="a skip after the reset")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.status.counters["opens"] == 2
    assert [str(r.metric) for rs, _ in rec.readings for r in rs] == ["pulse_rate", "perfusion_index"] * 2


async def test_hl7_code_label_conflicts_are_a_counter_of_their_own() -> None:
    fake, rec = FakeTransport(), Recorder()
    driver = Driver("monitor", fake, Hl7OruCodec(), on_readings=rec.on_readings, on_status=rec.on_status)
    task = asyncio.create_task(driver.run())
    fake.chunks.put_nowait(CONFLICT + CONFLICT)
    await wait_for(lambda: driver.status.counters.get("skipped_code_label_conflict") == 2, what="two conflicts")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [str(r.metric) for rs, _ in rec.readings for r in rs] == ["spo2", "spo2"]
