"""Protocol names used in config and by `edge-app decode` (contract; never rename)."""
from __future__ import annotations

from enum import StrEnum


class ProtocolName(StrEnum):
    MASIMO_ASCII = "masimo-ascii"
    NONIN_DF2 = "nonin-df2"
    NONIN_DF7 = "nonin-df7"
    NONIN_DF8 = "nonin-df8"
    NONIN_DF13 = "nonin-df13"
    HL7_ORU = "hl7-oru"
    GATT_HEART_RATE = "gatt-heart-rate"
    GATT_PLX = "gatt-plx"
    GATT_BLOOD_PRESSURE = "gatt-blood-pressure"
    GATT_TEMPERATURE = "gatt-temperature"
    GATT_GLUCOSE = "gatt-glucose"
