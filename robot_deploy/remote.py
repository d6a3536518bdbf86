"""The wireless remote as the robot reports it in every LowState.

Both Unitree low-level protocols carry the remote's raw 40 bytes in the state: ``LowState_.
wireless_remote`` on the Go2 (``unitree_sdk2``), ``LowState.wirelessRemote`` on the Go1 (legged
SDK 3.8). The layout is the SDK's ``xRockerBtnDataStruct`` (``unitree_legged_sdk``'s
``joystick.h``; the key order of ``unitree_sdk2_python``'s ``example/wireless_controller``),
little-endian::

    0   head u8[2]
    2   btn u16: bit 0 R1, 1 L1, 2 start, 3 select, 4 R2, 5 L2, 6 F1, 7 F2,
                 8 A, 9 B, 10 X, 11 Y, 12 up, 13 right, 14 down, 15 left
    4   lx f32      8 rx f32      12 ry f32      16 L2 f32 (analog trigger)      20 ly f32
    24  idle u8[16]

What the deployment does with it: :data:`START_BUTTON` lets the policy take over after the
stand-up ramp (when the controller waits for it), and :data:`ESTOP_BUTTONS` (L2 + B, the
"passive" combination of Unitree's ``unitree_guide`` controller) is the e-stop: the safety
layer trips and damps on the first state that reports it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from quadmimic.core.errors import QuadmimicError

REMOTE_BYTES = 40
"""Size of the remote field in a LowState."""
KEYS = ("R1", "L1", "start", "select", "R2", "L2", "F1", "F2",
        "A", "B", "X", "Y", "up", "right", "down", "left")
"""Button names in bit order of the 16-bit key field (bit ``i`` is ``KEYS[i]``)."""
START_BUTTON = "start"
"""The button that lets the policy take over after the stand-up ramp."""
ESTOP_BUTTONS = ("L2", "B")
"""The e-stop combination: both held → the safety layer damps at once."""

_LAYOUT = struct.Struct("<2BH5f16x")
assert _LAYOUT.size == REMOTE_BYTES


class RemoteFormatError(QuadmimicError):
    """Remote data of the wrong size, or an unknown button name."""


def key_mask(buttons: Iterable[str]) -> int:
    """The key bitfield of ``buttons`` held together.

    Raises:
        RemoteFormatError: A name is not one of :data:`KEYS`.
    """
    mask = 0
    for name in buttons:
        try:
            mask |= 1 << KEYS.index(name)
        except ValueError:
            raise RemoteFormatError(f"unknown remote button {name!r} "
                                    f"(known: {', '.join(KEYS)})") from None
    return mask


@dataclass(frozen=True)
class RemoteState:
    """One reading of the wireless remote (decoded ``xRockerBtnDataStruct``)."""

    keys: int = 0
    """16-bit key field: bit ``i`` set while ``KEYS[i]`` is held."""
    lx: float = 0.0
    """Left stick x (−1..1)."""
    rx: float = 0.0
    """Right stick x (−1..1)."""
    ry: float = 0.0
    """Right stick y (−1..1)."""
    l2: float = 0.0
    """L2 trigger, analog (0..1)."""
    ly: float = 0.0
    """Left stick y (−1..1)."""

    @property
    def buttons(self) -> frozenset[str]:
        """Names of the buttons held."""
        return frozenset(name for i, name in enumerate(KEYS) if self.keys >> i & 1)

    def pressed(self, *names: str) -> bool:
        """All of ``names`` are held (unknown names raise :class:`RemoteFormatError`)."""
        mask = key_mask(names)
        return (self.keys & mask) == mask

    @property
    def estop(self) -> bool:
        """The e-stop combination (:data:`ESTOP_BUTTONS`) is held."""
        return self.pressed(*ESTOP_BUTTONS)


def decode_remote(raw: bytes | bytearray | memoryview | Sequence[int]) -> RemoteState:
    """Decode the 40 remote bytes of a LowState (pure; see the module doc for the layout).

    Args:
        raw: The field as bytes, or as the SDKs give it: a list of 40 ints in 0..255.

    Raises:
        RemoteFormatError: Not 40 bytes.
    """
    try:
        data = bytes(raw)
    except (TypeError, ValueError) as exc:
        raise RemoteFormatError(f"wireless remote data is not bytes: {exc}") from None
    if len(data) != REMOTE_BYTES:
        raise RemoteFormatError(f"wireless remote data must be {REMOTE_BYTES} bytes, "
                                f"got {len(data)}")
    _, _, keys, lx, rx, ry, l2, ly = _LAYOUT.unpack(data)
    return RemoteState(keys, lx, rx, ry, l2, ly)


def encode_remote(buttons: Iterable[str] = (), *, lx: float = 0.0, rx: float = 0.0,
                  ry: float = 0.0, l2: float = 0.0, ly: float = 0.0) -> bytes:
    """The 40 remote bytes with ``buttons`` held and the sticks at the given values.

    Raises:
        RemoteFormatError: An unknown button name.
    """
    return _LAYOUT.pack(0, 0, key_mask(buttons), lx, rx, ry, l2, ly)
