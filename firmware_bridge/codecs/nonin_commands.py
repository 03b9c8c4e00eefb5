"""Nonin host commands (select data format, set the clock) and the device's one-byte replies, as pure builders."""
from __future__ import annotations

STX = 0x02
ETX = 0x03
ACK = 0x06  # the device accepted a command
NAK = 0x15  # the device refused it
# Sources: Nonin 9560 Bluetooth OEM specification p.4 (in mattjlewis/NoninPulseOx, constants in
# src/main/java/com/diozero/pulseox/nonin/data/Nonin9560Constants.java), mdpnp/mdpnp
# devices/nonin/.../NoninPulseOx.java (consumeControl), and Isansys NoninWristOx.java (3150).
REPLIES = (ACK, NAK)

OP_SET_FORMAT = 0x70
OP_SET_TIME = 0x72
DATA_TYPE_SERIAL = 0x02  # "Data Type" byte before the format number (cordova-plugin-nonin-bluetooth Nonin.java)
FORMATS = (2, 7, 8, 13)
# The extended (WristOx2 3150) form's option byte: both public users send 0x21 (mdpnp sendSetFormat with
# bluetoothEnabledAtPowerOn, Isansys "INSERT_SENSOR"); mdpnp calls 0x40 spot-check mode, Isansys uses 0x61.
DEFAULT_OPTIONS = 0x21


def _format(data_format: int) -> int:
    if data_format not in FORMATS:
        raise ValueError(f"Nonin data format must be one of {FORMATS}, not {data_format!r}")
    return data_format


def set_format_command(data_format: int) -> bytes:
    """STX 0x70 len=2 type=2 format ETX: select a data format (9560 spec p.4; e.g. 02 70 02 02 08 03)."""
    return bytes((STX, OP_SET_FORMAT, 2, DATA_TYPE_SERIAL, _format(data_format), ETX))


def set_format_extended_command(data_format: int, options: int = DEFAULT_OPTIONS) -> bytes:
    """STX 0x70 len=4 type=2 format options checksum ETX: the WristOx2 3150 form with an option byte.

    The checksum is the opcode, length and data summed modulo 256 (mdpnp NoninPulseOx.sendSetFormat, and
    Isansys NoninWristOx: 02 70 04 02 08 21 9F 03).
    """
    if not 0 <= options <= 0xFF:
        raise ValueError(f"option byte must be 0..255, not {options!r}")
    body = (DATA_TYPE_SERIAL, _format(data_format), options)
    check = (OP_SET_FORMAT + len(body) + 1 + sum(body)) & 0xFF  # length 4 counts the checksum byte too
    return bytes((STX, OP_SET_FORMAT, len(body) + 1, *body, check, ETX))


def set_time_command(epoch_ms: int) -> bytes:
    """STX 0x72 len=6 YY MM DD hh mm ss ETX, binary, from epoch ms read as UTC (9560 spec p.4 example).

    The caller reads the clock; ValueError outside 2000-2099, which two year digits cannot hold.
    """
    days, second_of_day = divmod(epoch_ms // 1000, 86_400)
    year, month, day = _civil(days)
    if not 2000 <= year <= 2099:
        raise ValueError(f"the device clock holds years 2000-2099, not {year}")
    hour, rest = divmod(second_of_day, 3600)
    # Binary, not BCD: the spec example 2050-12-31 14:30:15 is 32 0C 1F 0E 1E 0F (MediPi
    # Nonin9560Continua.ensureCorrectTime sends the same encoding).
    return bytes((STX, OP_SET_TIME, 6, year - 2000, month, day, hour, *divmod(rest, 60), ETX))


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a count of days since 1970-01-01 (proleptic Gregorian; codecs read no clock module)."""
    # Howard Hinnant's days_from_civil inverse: eras of 400 years, March-based years.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day
