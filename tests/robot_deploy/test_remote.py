"""The wireless remote's 40 bytes (Unitree's xRockerBtnDataStruct): decoding, encoding, buttons."""

from __future__ import annotations

import struct

import pytest

from quadmimic.core.errors import QuadmimicError
from robot_deploy.remote import (
    ESTOP_BUTTONS,
    KEYS,
    REMOTE_BYTES,
    START_BUTTON,
    RemoteFormatError,
    RemoteState,
    decode_remote,
    encode_remote,
    key_mask,
)
from robot_deploy.safety import SafetyConfig

# The SDK's bit order (unitree_legged_sdk joystick.h xKeySwitchUnion; unitree_sdk2_python
# example/wireless_controller key_state), written out rather than taken from the module.
SDK_BITS = {"R1": 0, "L1": 1, "start": 2, "select": 3, "R2": 4, "L2": 5, "F1": 6, "F2": 7,
            "A": 8, "B": 9, "X": 10, "Y": 11, "up": 12, "right": 13, "down": 14, "left": 15}


def c_struct(head: bytes, keys: int, lx: float, rx: float, ry: float, l2: float,
             ly: float) -> bytes:
    """xRockerBtnDataStruct packed field by field as the C compiler lays it out."""
    return (head + keys.to_bytes(2, "little") + struct.pack("<f", lx) + struct.pack("<f", rx)
            + struct.pack("<f", ry) + struct.pack("<f", l2) + struct.pack("<f", ly)
            + bytes(range(16)))


def test_bit_order_is_the_sdks():
    assert dict(zip(KEYS, range(16), strict=True)) == SDK_BITS
    for name, bit in SDK_BITS.items():
        raw = encode_remote([name])
        assert int.from_bytes(raw[2:4], "little") == 1 << bit
        assert decode_remote(raw).buttons == {name}
    # the bitfield's first member is the low bit of byte 2: R1, then L1, start...
    assert encode_remote(["R1"])[2] == 0x01 and encode_remote(["A"])[3] == 0x01


def test_decode_a_c_laid_out_remote():
    raw = c_struct(b"\x55\x51", (1 << 5) | (1 << 9) | (1 << 12), 0.25, -0.5, 0.75, 1.0, -1.0)
    assert len(raw) == REMOTE_BYTES
    for form in (raw, bytearray(raw), memoryview(raw), list(raw)):  # the SDKs give lists
        remote = decode_remote(form)
        assert remote.buttons == {"L2", "B", "up"}
        assert (remote.lx, remote.rx, remote.ry, remote.l2, remote.ly) == (
            0.25, -0.5, 0.75, 1.0, -1.0)
        assert remote.estop and remote.pressed("L2", "B") and not remote.pressed(START_BUTTON)


def test_encode_round_trip_and_sticks():
    raw = encode_remote(["start", "X"], lx=0.5, ly=-0.25, rx=0.125, ry=-1.0, l2=0.75)
    assert len(raw) == REMOTE_BYTES and raw[:2] == b"\0\0" and raw[24:] == bytes(16)
    assert decode_remote(raw) == RemoteState(keys=(1 << 2) | (1 << 10), lx=0.5, rx=0.125,
                                             ry=-1.0, l2=0.75, ly=-0.25)
    assert decode_remote(encode_remote()) == RemoteState()
    assert not decode_remote(encode_remote()).buttons


def test_estop_needs_both_buttons():
    assert ESTOP_BUTTONS == ("L2", "B")
    assert key_mask(ESTOP_BUTTONS) == 0x0220
    assert decode_remote(encode_remote(["L2", "B", "A"])).estop
    assert not decode_remote(encode_remote(["L2"])).estop
    assert not decode_remote(encode_remote(["B"])).estop


@pytest.mark.parametrize("raw", [b"", bytes(39), bytes(41), [0] * 12])
def test_wrong_size_is_one_clear_error(raw):
    with pytest.raises(RemoteFormatError, match="40 bytes") as info:
        decode_remote(raw)
    assert isinstance(info.value, QuadmimicError) and "\n" not in str(info.value)


def test_not_bytes_and_unknown_buttons_are_clear_errors():
    with pytest.raises(RemoteFormatError):
        decode_remote([300] * 40)
    with pytest.raises(RemoteFormatError, match="unknown remote button 'Z'"):
        encode_remote(["A", "Z"])
    with pytest.raises(RemoteFormatError, match="unknown remote button"):
        RemoteState().pressed("home")
    with pytest.raises(RemoteFormatError, match="unknown remote button"):
        SafetyConfig(estop_buttons=("L2", "Q"))
    assert SafetyConfig(estop_buttons=()).estop_buttons == ()
