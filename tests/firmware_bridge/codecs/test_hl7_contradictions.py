"""An OBX whose code contradicts its own label, alternate code or sub-id names two measurements: no reading."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs.hl7_mllp import frame
from firmware_bridge.codecs.hl7_oru import Hl7OruCodec
from firmware_bridge.reading import Reading

REASON = "code_label_conflict"
MMHG = "266016^MDC_DIM_MMHG^MDC"


def decode(*obx: str) -> tuple[list[Reading], Hl7OruCodec]:
    codec = Hl7OruCodec()
    text = "\r".join(["MSH|^~\\&|MON||||20240301101500||ORU^R01^ORU_R01|C1|P|2.6",
                      "OBR|1|||182777000^monitoring of patient^SCT|||20240301101500", *obx])
    return codec.feed(frame(text.encode())), codec


@pytest.mark.parametrize("code, sub", [
    # The review's row: MDC_PRESS_BLD_AORT_MEAN (150031, an arterial-line mean) labelled as a cuff systolic.
    ("150031^MDC_PRESS_BLD_NONINV_SYS^MDC", "1.1.9.150021"),
    ("150031^MDC_PRESS_BLD_NONINV_SYS^MDC", "1"),
    ("150031^MDC_PRESS_BLD_AORT_MEAN^MDC", "1.1.9.150021"),  # the sub-id alone says cuff systolic
    ("150031^MDC_PRESS_CUFF_SYS^MDC", ""),
    ("150031^NBPs^MDC", "1.5.1.1"),
    ("150035^mdc_press_bld_noninv_sys^MDC", "1.13.1.3"),  # labels match whatever their case
    ("150023^MDC_PRESS_BLD_NONINV_SYS^MDC", "1.5.1.3"),  # cuff mean labelled cuff systolic
    ("150021^MDC_PRESS_BLD_ART_ABP_SYS^MDC", "1.5.1.1"),  # cuff code, arterial-line label
    ("150021^ABPs^MDC", ""),
    ("0002-4a05^ABPs^MDIL", ""),  # Philips NBPs code with the ABPs label
    ("150033^MDC_PRESS_BLD_ART_PULM_SYS^MDC", "1.13.1.1"),  # a pulmonary artery label: not arterial BP
    ("150035^MDC_PRESS_BLD_VEN_CENT_MEAN^MDC", "1.13.1.3"),  # a CVP label
    ("150021^^MDC^150035^MDC_PRESS_BLD_ART_MEAN^MDC", "1"),  # the alternate identifier is another metric
    ("150031^Non-invasive cuff systolic^MDC", "1"),  # spelled out
    ("150031^NIBP Systolic^MDC", ""),
    ("150035^NBP mean^MDC", ""),
    ("150021^ABP Sys^MDC", ""),
    ("150022^Invasive diastolic^MDC", ""),
])
def test_pressure_rows_that_name_two_measurements_are_skipped(code: str, sub: str) -> None:
    readings, codec = decode(f"OBX|1|NM|{code}|{sub}|120|{MMHG}|||||R",
                             "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97|262688^^MDC|||||R")
    assert [str(r.metric) for r in readings] == ["spo2"]  # the rest of the message stands
    assert codec.skipped[REASON] == 1 and codec.stats.frames_ok == 1


@pytest.mark.parametrize("obx", [
    "150456^MDC_ECG_HEART_RATE^MDC|1|97|262688^^MDC",
    "150456^HR^MDC|1|97|262688^^MDC",
    "0002-4bb8^HR^MDIL|1|97|0004-0220^%^MDIL",
    "147842^MDC_PULS_OXIM_SAT_O2^MDC|1|72|264864^^MDC",
    "147842^SpO2^MDC|1|72|264864^^MDC",
    "149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1.150456|72|264864^^MDC",  # Mindray-style sub-id: SpO2's code
    "149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1.148066|72|264864^^MDC",  # ... or the PVC rate's
    "150344^MDC_TEMP_SKIN^MDC|1|33.1|268192^^MDC",  # a skin temperature is not a body temperature
    "151562^MDC_TEMP^MDC|1|18|264928^^MDC",
    "151562^MDC_RESP_RATE^MDC^150456^MDC_PULS_OXIM_SAT_O2^MDC|1|18|264928^^MDC",
    "150456^Heart Rate^MDC|1|97|262688^^MDC",
    "147842^Oxygen saturation^MDC|1|72|264864^^MDC",
])
def test_other_rows_that_name_two_measurements_are_skipped(obx: str) -> None:
    readings, codec = decode(f"OBX|1|NM|{obx}|||||R")
    assert readings == [] and codec.skipped[REASON] == 1


@pytest.mark.parametrize("obx, metric", [
    ("150031^MDC_PRESS_BLD_AORT_MEAN^MDC|1.13.1.3|95|" + MMHG, "ibp_mean"),
    ("150021^MDC_PRESS_CUFF_SYS^MDC|1.5.1.1|120|" + MMHG, "bp_systolic"),  # two names, one measurement
    ("150301^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.9.150021|120|" + MMHG, "bp_systolic"),
    ("150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|120|" + MMHG, "bp_systolic"),  # Mindray's own sub-id
    ("0002-4a05^NBPs^MDIL||120|0004-0f20^mmHg^MDIL", "bp_systolic"),
    ("0002-f0bd^FemArtS^MDIL||120|" + MMHG, "ibp_systolic"),  # a label nobody listed: no judgement
    ("150456^^MDC|1|97|262688^^MDC", "spo2"),
    ("150456^Sat (finger)^MDC|1|97|262688^^MDC", "spo2"),
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC|1.22.1.2|97|262688^^MDC", "spo2"),  # GE hierarchy: small numbers
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.99999999|97|262688^^MDC", "spo2"),  # no code we know
    # The ECG and the oximeter count the same beats, and monitors label either "HR": one measurement.
    ("149530^HR^MDC|1|72|264864^^MDC", "pulse_rate"),
    ("147842^MDC_PULS_OXIM_PULS_RATE^MDC|1|72|264864^^MDC", "heart_rate"),
    ("150344^MDC_TEMP_RECT^MDC|1|37.1|268192^^MDC", "temperature"),  # another site of body temperature
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC^59408-5^Oxygen saturation^LN|1|97|262688^^MDC", "spo2"),
    ("150023^Mean Arterial Pressure^MDC|1|93|" + MMHG, "bp_mean"),  # what cuff monitors call MAP too
    ("150035^Arterial mean^MDC|1|93|" + MMHG, "ibp_mean"),
    ("150021^Non-invasive arterial systolic^MDC|1|120|" + MMHG, "bp_systolic"),
    ("150021^NIBP Systolic^MDC|1|120|" + MMHG, "bp_systolic"),
    ("150021^Systolic^MDC|1|120|" + MMHG, "bp_systolic"),  # which pressure? it does not say
    ("150021^NIBP sys/dia^MDC|1|120|" + MMHG, "bp_systolic"),  # two parts: no judgement
    ("150033^ART/NBP sys^MDC|1|120|" + MMHG, "ibp_systolic"),  # two kinds: no judgement
    ("149530^Heart rate^MDC|1|72|264864^^MDC", "pulse_rate"),
    ("150344^Body temperature^MDC|1|37.1|268192^^MDC", "temperature"),
])
def test_rows_whose_names_agree_or_say_nothing_are_read(obx: str, metric: str) -> None:
    readings, codec = decode(f"OBX|1|NM|{obx}|||||R")
    assert [str(r.metric) for r in readings] == [metric] and REASON not in codec.skipped


def test_a_contradicted_row_without_a_value_says_nothing_about_either_metric() -> None:
    readings, codec = decode("OBX|1|NM|150031^MDC_PRESS_BLD_NONINV_SYS^MDC|1|||||||X")
    assert readings == [] and codec.status == () and codec.skipped == {REASON: 1}
