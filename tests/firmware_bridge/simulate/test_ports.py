"""VirtualSerialPort: a pty behind a stable link that can be unplugged and plugged back."""
from __future__ import annotations

import os

import pytest
import serial  # type: ignore[import-untyped]

from firmware_bridge.simulate.ports import VirtualSerialPort


def test_link_points_at_the_reader_end_and_bytes_flow(vport: VirtualSerialPort) -> None:
    assert os.path.realpath(vport.link) == vport.slave_name
    with serial.Serial(str(vport.link), 9600, timeout=1) as ser:
        vport.write(b"hello\r\n")
        assert ser.readline() == b"hello\r\n"
        ser.write(b"cmd")
        assert vport.read(timeout=1) == b"cmd"


def test_unplug_hangs_up_the_reader_and_removes_the_link(vport: VirtualSerialPort) -> None:
    ser = serial.Serial(str(vport.link), 9600, timeout=1)
    vport.unplug()
    assert not vport.link.exists() and not vport.link.is_symlink()
    with pytest.raises(serial.SerialException):
        ser.read(1)
    ser.close()
    vport.write(b"into the void\r\n")  # an unplugged monitor's bytes are simply lost
    assert vport.dropped == 15
    vport.plug()
    with serial.Serial(str(vport.link), 9600, timeout=1) as ser:
        vport.write(b"back\r\n")
        assert ser.readline() == b"back\r\n"


def test_writes_never_block_without_a_reader(vport: VirtualSerialPort) -> None:
    for _ in range(2000):  # ~250 kB: far past the tty buffer, which a blocking write would wait on
        vport.write(b"x" * 127 + b"\n")
    assert vport.dropped > 0


def test_close_is_idempotent(tmp_path: os.PathLike[str]) -> None:
    port = VirtualSerialPort(os.path.join(tmp_path, "ttyX"))
    port.close()
    port.close()
    assert not port.plugged
