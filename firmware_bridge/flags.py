"""What each status flag a codec attaches to a reading means for trusting its value.

A flag in UNRELIABLE says the device itself doubts the number (the sensor is off or displaced, the signal
is poor, the perfusion too low, the data is a demonstration): the reading is stored and shown with its
flags, but never taken as the patient's current value (DESIGN.md "One clinical truth"). Every other flag
is information (an alarm limit crossed, the measurement site, a low battery) and leaves the value usable.

Each flag a codec's own tables can emit is named in one of the two sets; tests/firmware_bridge/test_flags.py
fails when a codec gains a flag nobody has classified. HL7 OBX-8 may carry words of a sender's own; an
unknown word is information, as HL7 table 0078 abnormal flags are.
"""
from __future__ import annotations

from collections.abc import Iterable

# Set by edge_app on both halves of a blood pressure whose systolic is at or below its diastolic.
BP_INCONSISTENT = "bp_systolic_not_above_diastolic"

UNRELIABLE: frozenset[str] = frozenset({
    # Masimo EXC bits (Rad-8 Operator's Manual, "Trend data format"): no usable SpO2 while any is set.
    "no_sensor", "defective_sensor", "low_perfusion", "pulse_search", "interference", "sensor_off",
    "ambient_light", "unrecognized_sensor", "incompatible_sensor", "low_signal_iq", "no_cable",
    "cable_life_expired", "incompatible_cable", "unrecognized_cable", "defective_cable", "sensor_calibrating",
    "sensor_life_expired", "emitter_temp_out_of_range", "sensor_current_limit",
    # Nonin serial formats (Nonin OEM protocol specifications): artifact, out of track, sensor alarm, red
    # (low) perfusion, no measurement; DF8's sensor disconnected and DF2's STATUS SNSD (sensor disconnect).
    "artifact", "out_of_track", "sensor_alarm", "perfusion_red", "no_measurement", "sensor_disconnected",
    "sensor_disconnect",
    # GATT Heart Rate (HRS 1.0, 3.1.1.2): contact supported and not detected.
    "no_sensor_contact",
    # GATT Pulse Oximeter (PLXS 1.0.1, GSS 3.171-3.172): measurement status and device/sensor status.
    "measurement_ongoing", "early_estimated_data", "calibration_ongoing", "measurement_unavailable",
    "questionable_measurement", "invalid_measurement", "data_for_demonstration", "data_for_testing",
    "equipment_malfunction", "signal_processing_irregularity", "inadequate_signal", "poor_signal",
    "erratic_signal", "nonpulsatile_signal", "questionable_pulse", "signal_analysis_ongoing",
    "sensor_interference", "sensor_unconnected_to_user", "unknown_sensor_connected", "sensor_displaced",
    "sensor_malfunctioning",
    # GATT Blood Pressure (BLS 1.1.1, 3.1.1.5): a measurement the cuff itself says may be wrong.
    "body_movement", "cuff_too_loose", "improper_position",
    # GATT Glucose (GLS 1.0.1, 3.106.1.7 sensor status annunciation) and control-solution samples.
    "sensor_malfunction", "sample_size_insufficient", "strip_insertion_error", "strip_type_incorrect",
    "result_too_high", "result_too_low", "sensor_temp_too_high", "sensor_temp_too_low",
    "sensor_read_interrupted", "general_device_fault", "control_solution",
    # HL7 OBX-8 "DEMO" (Mindray in demonstration mode), MSH-11 processing id T or D (training,
    # debugging): not a patient's values at all.
    "demo", "test_data",
    # A cuff frame whose systolic is not above its diastolic: a failed measurement (see BP_INCONSISTENT).
    BP_INCONSISTENT,
})

INFORMATIONAL: frozenset[str] = frozenset({
    # Any codec (status only): the newest frame carried a value no patient has (firmware_bridge.plausible).
    # That value is not emitted at all; the frame's other values stand on their own flags, so a glitching
    # temperature probe does not take a monitor's SpO2 off the screen (doctor counts the dropped values).
    "implausible_value",
    # Masimo ALARM bits and the EXC bits that do not concern SpO2 or pulse.
    "spo2_high", "spo2_low", "pulse_rate_high", "pulse_rate_low", "alarm_active", "alarm_silenced",
    "low_battery", "spco_high", "spco_low", "spmet_high", "spmet_low", "desat_index_alarm", "pi_delta_alarm",
    "masimo_set", "spco_low_confidence", "spmet_low_confidence",
    # Nonin: marginal (yellow) and good (green) perfusion, battery, SmartPoint, a stored record. DF8's
    # critical battery: "device will turn-off after sending this status" (nonin_frames.py [DZ]), a power
    # state; the measurement's own quality is in the other bits, so the values stand until it goes off.
    "perfusion_green", "perfusion_yellow", "smart_point", "from_memory", "critical_battery",
    # GATT: contact detected, energy field saturated, stored or validated data, a clock never set.
    "sensor_contact", "energy_expended_saturated", "validated_data", "fully_qualified_data",
    "data_from_storage", "extended_display_update_ongoing", "device_clock_not_set", "irregular_pulse",
    # Any codec: the device's timestamp was no real time and was dropped (firmware_bridge.plausible); the
    # value stands, timed by its receipt.
    "device_clock_implausible",
    # BLS pulse rate range detection: the cuff's pulse against its own limits; a glucose context follows.
    "pulse_rate_exceeds_upper_limit", "pulse_rate_below_lower_limit", "pulse_rate_range_reserved",
    "context_follows",
    # GATT Glucose sample type and site, battery, a time fault (the value stands; its time is doubtful).
    "arterial_plasma", "arterial_whole_blood", "capillary_plasma", "capillary_whole_blood", "interstitial_fluid",
    "undetermined_plasma", "undetermined_whole_blood", "venous_plasma", "venous_whole_blood",
    "alternate_site_test", "earlobe", "finger", "battery_low", "time_fault",
    # GATT Health Thermometer measurement site.
    "site_armpit", "site_body", "site_ear", "site_finger", "site_gastrointestinal", "site_mouth", "site_rectum",
    "site_toe", "site_tympanum", "site_reserved",
    # HL7 OBX-11 result status and OBX-8 abnormal flags (table 0078): the value is the monitor's own.
    "corrected", "preliminary", "abnormal", "abnormal_high", "abnormal_low", "above_range", "below_range",
    "critical", "critical_high", "critical_low",
})


def is_unreliable(flags: Iterable[str]) -> bool:
    """Whether a reading with these flags must not be taken as the current value."""
    return any(f in UNRELIABLE for f in flags)
