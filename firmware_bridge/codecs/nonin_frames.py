"""Nonin serial data formats 2, 7, 8 and 13: frame layouts, checksums and status bits, as pure functions.

No public Nonin specification text could be read here, so every field below is taken from open-source
decoders that cite the Nonin documents, and is named with the one it comes from:

[PF] pez-globo/pufferfish-software, firmware/ventilator-controller-stm32/Core/{Src,Inc}/Pufferfish/Driver/
     Serial/Nonin/ (FrameReceiver.cpp, PacketReceiver.cpp, Types.h) and Core/Test/.../TestNoninOEM3.cpp:
     Nonin OEM III, data format 2.
[ML] mattjlewis/NoninPulseOx, src/main/java/com/diozero/pulseox/nonin/io/ (DataFormat2FrameSerialiser,
     DataFormat2PacketSerialiser, DataFormat8Serialiser, DataFormat13Serialiser): Onyx II 9560, with the
     "Nonin 9560 Bluetooth Specification.pdf" in the same repository.
[CP] dariosalvi78/cordova-plugin-nonin-bluetooth, src/android/ (NoninFrame.java, NoninPacket.java): 9560 and
     WristOx2 3150, data format 7.
[MD] mdpnp/mdpnp, devices/nonin/src/main/java/org/mdpnp/devices/nonin/pulseox/ (Packet.java, Status.java):
     9560 and 3150, data format 7.
[IS] Isansys Patient Gateway, com/isansys/patientgateway/bluetooth/SpO2/NoninWristOx.java (public copy):
     WristOx2 3150, data formats 2 and 8, citing Nonin's 3150TechSpec_ENG.pdf pages 11-12.
[MP] NHS Digital MediPi, org/medipi/devices/drivers/domain/N9560Measurement.java: 9560, data format 13.
[DZ] drphrozen/javautilityclasses, NoninAndroid/src/dk/iha/nonin/Format8.java: data format 8, each bit with
     the Nonin OEM specification's own description.
"""
from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass

FRAME_LEN = 5  # formats 2 and 7: STATUS-bearing frames of 5 bytes [PF][CP]
PACKET_FRAMES = 25  # 25 frames make a packet; 3 packets a second, 75 frames a second [ML][CP][MD]
DF8_LEN = 4  # format 8: STATUS, HR LSB, SpO2, STAT2, once a second, no checksum [ML][IS]

MISSING_HR = 511  # "missing data" value of every 9-bit pulse rate [CP NoninPacket.MISSING_HR][IS][ML DF13]
MISSING_SPO2 = 127  # "missing data" value of every SpO2 byte [CP NoninPacket.MISSING_SPO2][IS][ML DF13]

DF2_START = 0x01  # byte 1 of every format 2 frame [PF validate_frame][ML "byte1 should always be 0x01"]
STATUS_HIGH = 0x80  # STATUS bit 7 is always set [PF mask_start_of_frame][CP IsValidFrame][IS]
STATUS_SYNC = 0x01  # STATUS bit 0 marks frame 1 of a packet [PF][CP IsSyncFrame][MD Status.sync]

# STATUS bits of formats 2 and 7 [PF read_status_byte][CP NoninFrame][MD Status.set][ML]. Bit 6 is
# SNSD (sensor disconnect) only in [PF], which is format 2; no format 7 source defines it, so it is left out there.
STATUS_BITS: dict[int, str] = {0x20: "artifact", 0x10: "out_of_track", 0x08: "sensor_alarm"}
STATUS_SNSD = 0x40
# Bits 2..1: GPRF alone green, RPRF alone red, both yellow (perfusion shown only during a pulse) [PF][CP][MD][ML].
PERFUSION = {0x02: "perfusion_green", 0x04: "perfusion_red", 0x06: "perfusion_yellow"}
PERFUSION_MASK = 0x06
# STAT2 (packet frame 8) bits: agreed by [ML], [CP], [MD] and [IS]. [IS] also names 0x02 critical battery and
# 0x04 spot-check mode for the 3150 only; a 9560 capture in [ML] streams with 0x04 set, so those are left out.
STAT2_BITS: dict[int, str] = {0x20: "smart_point", 0x01: "low_battery"}

# Packet frame index of each FLOAT byte, formats 2 and 7 [PF Types.h][CP NoninPacket.FrameLocation][ML][MD].
HR_MSB, HR_LSB, SPO2, REV, TMR_MSB, TMR_LSB, STAT2 = 0, 1, 2, 3, 5, 6, 7
SPO2_D, SPO2_FAST, SPO2_BB, E_HR_MSB, E_HR_LSB, E_SPO2, E_SPO2_D = 8, 9, 10, 13, 14, 15, 16
HR_D_MSB, HR_D_LSB, E_HR_D_MSB, E_HR_D_LSB = 19, 20, 21, 22

# Format 8 bits [ML DataFormat8Serialiser][IS SERIAL_DATA_FORMAT_EIGHT__*][DZ]. LPRF/MPRF are the format's
# "low/no" and "low/marginal" signal quality, the same wording [CP] gives format 7's red and yellow.
# STATUS bit 6 (SNSD) is "an absence of signal, meaning the sensor is disconnected" [DZ isSensorDisconnected]:
# no number sent with it is the patient's (flags.py: UNRELIABLE).
DF8_STATUS_BITS: dict[int, str] = {0x40: "sensor_disconnected", 0x20: "out_of_track", 0x10: "perfusion_red",
                                   0x08: "perfusion_yellow", 0x04: "artifact"}
# STAT2 bit 1 is "Critical Battery condition - device will turn-off after sending this status" [DZ][IS
# STAT2__CRITICAL_BATTERY_BIT]: a power state, not a measurement one (the signal-quality bits say that), so
# the values stand (flags.py: INFORMATIONAL) and go stale by themselves once the oximeter is off.
DF8_STAT2_BITS: dict[int, str] = {0x20: "smart_point", 0x08: "sensor_alarm", 0x02: "critical_battery",
                                  0x01: "low_battery"}

# Format 13: NUL, STX, packet type 0x000D, 16-bit big-endian data length, data, checksum, ETX [ML][MP].
DF13_HEADER = b"\x00\x02\x00\x0d"
DF13_MIN_DATA = 14  # "the minimum length of the Spot-check Data is 14 bytes" [ML]; 23 with a serial number [MP]
DF13_MAX_DATA = 64  # our bound, not Nonin's: a corrupted length must not make the codec wait for ever
DF13_ETX = 0x03
# 16-bit status [ML masks][MP bit positions]: SPA, NOMS (no measurement), MEM (from memory), LOWBAT.
DF13_STATUS_BITS: dict[int, str] = {0x0200: "smart_point", 0x0100: "no_measurement", 0x0010: "from_memory",
                                    0x0001: "low_battery"}


def checksum(data: bytes | bytearray | memoryview) -> int:
    """Sum of the bytes modulo 256: the check of format 2/7 frames and of format 13 data [PF][CP][ML][MP]."""
    return sum(data) & 0xFF


def checksum_ok(raw: bytes | bytearray | memoryview) -> bool:
    """A format 2/7 frame's byte 5 is the sum of bytes 1-4 modulo 256 [PF][CP IsValidFrame][MD validChecksum]."""
    return len(raw) == FRAME_LEN and checksum(raw[:4]) == raw[4]


def df2_header_ok(raw: bytes | bytearray | memoryview) -> bool:
    """Format 2 framing: byte 1 is 0x01 and the STATUS byte (byte 2) has bit 7 set [PF validate_frame]."""
    return len(raw) >= 2 and raw[0] == DF2_START and bool(raw[1] & STATUS_HIGH)


def df7_header_ok(raw: bytes | bytearray | memoryview) -> bool:
    """Format 7 framing: the STATUS byte (byte 1) has bit 7 set [CP IsValidFrame][MD "High bit not set"]."""
    return len(raw) >= 1 and bool(raw[0] & STATUS_HIGH)


@dataclass(frozen=True, slots=True)
class Frame:
    """One 5-byte frame of format 2 or 7: STATUS, one pleth sample, and the packet's FLOAT byte for this slot."""

    status: int
    pleth: int
    float_byte: int

    @property
    def sync(self) -> bool:
        """Frame 1 of a packet."""
        return bool(self.status & STATUS_SYNC)


def decode_df2_frame(raw: bytes | bytearray | memoryview) -> Frame:
    """[0x01, STATUS, PLETH (8 bit), FLOAT, CHK] [PF][ML DataFormat2FrameSerialiser]; framing not checked."""
    return Frame(raw[1], raw[2], raw[3])


def decode_df7_frame(raw: bytes | bytearray | memoryview) -> Frame:
    """[STATUS, PLETH MSB, PLETH LSB, FLOAT, CHK] [CP NoninFrame][MD Packet.setFrame]; framing not checked."""
    return Frame(raw[0], (raw[1] << 8) | raw[2], raw[3])


def valid_df2_frame(raw: bytes | bytearray | memoryview) -> bool:
    """Format 2 framing and checksum."""
    return len(raw) == FRAME_LEN and df2_header_ok(raw) and checksum_ok(raw)


def valid_df7_frame(raw: bytes | bytearray | memoryview) -> bool:
    """Format 7 framing and checksum."""
    return len(raw) == FRAME_LEN and df7_header_ok(raw) and checksum_ok(raw)


def status_flags(status: int, *, snsd: bool = False) -> tuple[str, ...]:
    """Flags of a format 2/7 STATUS byte; `snsd` decodes bit 6 as sensor_disconnect (format 2 only)."""
    flags = [name for bit, name in STATUS_BITS.items() if status & bit]
    if snsd and status & STATUS_SNSD:
        flags.append("sensor_disconnect")
    colour = PERFUSION.get(status & PERFUSION_MASK)
    if colour is not None:
        flags.append(colour)
    return tuple(flags)


def nine_bit(msb: int, lsb: int) -> int:
    """Pulse rate from an MSB holding HR8..HR7 in bits 1..0 and an LSB holding HR6..HR0 [CP getHeartRate][ML][IS]."""
    return ((msb & 0x03) << 7) | (lsb & 0x7F)


@dataclass(frozen=True, slots=True)
class Packet:
    """The 25 FLOAT bytes of a format 2/7 packet, decoded; values are raw (511/127 mean missing)."""

    hr: int
    spo2: int
    firmware_rev: int
    timer: int
    stat2: int
    spo2_d: int
    spo2_fast: int
    spo2_beat_to_beat: int
    e_hr: int
    e_spo2: int
    e_spo2_d: int
    hr_d: int
    e_hr_d: int
    pleth: tuple[int, ...]
    statuses: tuple[int, ...]

    def flags(self, *, snsd: bool = False) -> tuple[str, ...]:
        """Packet flags: a STATUS condition seen in any frame, the newest perfusion colour, then STAT2 bits."""
        seen: set[str] = set()
        colour: str | None = None
        for status in self.statuses:
            for flag in status_flags(status, snsd=snsd):
                if flag.startswith("perfusion_"):
                    colour = flag  # shown only during a pulse [CP]: the newest pulse's quality stands
                else:
                    seen.add(flag)
        order = [*STATUS_BITS.values(), "sensor_disconnect"]
        out = [name for name in order if name in seen]
        if colour is not None:
            out.append(colour)
        out += [name for bit, name in STAT2_BITS.items() if self.stat2 & bit]
        return tuple(out)


def decode_packet(frames: Sequence[Frame]) -> Packet:
    """Decode a whole packet (frames[0] is the SYNC frame); ValueError unless there are exactly 25 frames."""
    if len(frames) != PACKET_FRAMES:
        raise ValueError(f"a packet has {PACKET_FRAMES} frames, not {len(frames)}")
    f = [fr.float_byte for fr in frames]
    return Packet(
        hr=nine_bit(f[HR_MSB], f[HR_LSB]),
        spo2=f[SPO2] & 0x7F,  # bits 6..0 [PF get_spo2_data][ML][IS]
        firmware_rev=f[REV],
        timer=((f[TMR_MSB] & 0x7F) << 7) | (f[TMR_LSB] & 0x7F),  # 14-bit 3 Hz timer [CP getTimer]
        stat2=f[STAT2],
        spo2_d=f[SPO2_D] & 0x7F,
        spo2_fast=f[SPO2_FAST] & 0x7F,
        spo2_beat_to_beat=f[SPO2_BB] & 0x7F,
        e_hr=nine_bit(f[E_HR_MSB], f[E_HR_LSB]),
        e_spo2=f[E_SPO2] & 0x7F,
        e_spo2_d=f[E_SPO2_D] & 0x7F,
        hr_d=nine_bit(f[HR_D_MSB], f[HR_D_LSB]),
        e_hr_d=nine_bit(f[E_HR_D_MSB], f[E_HR_D_LSB]),
        pleth=tuple(fr.pleth for fr in frames),
        statuses=tuple(fr.status for fr in frames),
    )


@dataclass(frozen=True, slots=True)
class Df8Frame:
    """One format 8 frame: 9-bit pulse rate, SpO2 and flags (values raw: 511/127 mean missing)."""

    hr: int
    spo2: int
    flags: tuple[str, ...]


def df8_framing_ok(raw: bytes | bytearray | memoryview) -> bool:
    """STATUS has bit 7 set [IS STATUS_DETECTION_BIT][ML]; HR LSB and SpO2 carry 7 bits, so bit 7 is clear."""
    return len(raw) >= 3 and bool(raw[0] & STATUS_HIGH) and not raw[1] & 0x80 and not raw[2] & 0x80


def decode_df8(raw: bytes | bytearray | memoryview) -> Df8Frame:
    """[STATUS (HR8..HR7 in bits 1..0), HR LSB, SpO2, STAT2] [ML DataFormat8Serialiser][IS normalModeDecode]."""
    flags = tuple(name for bit, name in DF8_STATUS_BITS.items() if raw[0] & bit)
    flags += tuple(name for bit, name in DF8_STAT2_BITS.items() if raw[3] & bit)
    return Df8Frame(nine_bit(raw[0], raw[1]), raw[2] & 0x7F, flags)


@dataclass(frozen=True, slots=True)
class SpotCheck:
    """One format 13 record: device time (epoch ms, UTC wall time) if readable, raw values and status flags."""

    device_time: int | None
    hr: int
    spo2: int
    status: int
    flags: tuple[str, ...]


def _bcd(b: int) -> int | None:
    hi, lo = b >> 4, b & 0x0F
    return hi * 10 + lo if hi < 10 and lo < 10 else None


def df13_time(stamp: bytes | bytearray | memoryview) -> int | None:
    """Epoch ms of the 8 date bytes (century, year, month, day, hour, minute, second, hundredths); None if invalid.

    [MP] reads these bytes as BCD and [ML] as plain binary; both say the first is the century, 20. So the
    encoding that makes that byte 20 is used (0x20: BCD, 0x14: binary), and anything else gives no time.
    """
    if len(stamp) < 8:
        return None
    if stamp[0] == 0x20:
        maybe = [_bcd(b) for b in stamp[:8]]
        parts = [p for p in maybe if p is not None]
        if len(parts) < 8:
            return None
    elif stamp[0] == 20:
        parts = list(stamp[:8])
    else:
        return None
    cc, yy, mo, dd, hh, mi, ss, hs = parts
    year = cc * 100 + yy
    if not (1 <= mo <= 12 and 1 <= dd <= calendar.monthrange(year, mo)[1] and hh < 24 and mi < 60 and ss < 60
            and hs < 100):
        return None
    return calendar.timegm((year, mo, dd, hh, mi, ss, 0, 0, 0)) * 1000 + hs * 10  # hundredths [MP]


def decode_df13_data(data: bytes | bytearray | memoryview) -> SpotCheck:
    """Decode the data of a format 13 record (at least 14 bytes) [ML DataFormat13Serialiser][MP parse]."""
    if len(data) < DF13_MIN_DATA:
        raise ValueError(f"format 13 data has at least {DF13_MIN_DATA} bytes, not {len(data)}")
    status = (data[8] << 8) | data[9]
    hr = (data[10] << 8) | data[11]  # 16-bit, 0x1FF when missing [ML NO_HEART_RATE_VALUE][MP]
    # data[12] is reserved [ML]; bytes past 14 (a serial number in [MP]) carry no metric.
    flags = tuple(name for bit, name in DF13_STATUS_BITS.items() if status & bit)
    return SpotCheck(df13_time(data[:8]), hr, data[13], status, flags)
