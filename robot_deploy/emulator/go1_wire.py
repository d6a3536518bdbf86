"""Unitree legged SDK 3.8 (Go1) low-level UDP packets: byte layouts, CRC, codecs.

The layouts are those the official SDK wheel (``unitree_legged_sdk`` 3.8) puts on the wire,
read from its shared object and checked against bytes its ``UDP`` sends and accepts. They are
*not* the ``comm.h`` structs byte for byte: SDK 3.8 "refines" (compresses) them before sending
(``refineCmd``) and expands them after receiving (``refineState``). All fields little-endian,
packed, motor index ``i`` = Unitree motor ``i`` (FR_0..2, FL_0..2, RR_0..2, RL_0..2, then 8
unused slots).

LowCmd, 614 bytes (``LOW_CMD_LENGTH``; ``sizeof(LowCmd)`` would be 734)::

    0   head u8[2] = FE EF      2 levelFlag u8 = FF (low level)    3 frameReserve u8
    4   SN u32[2]               12 version u32[2]                  20 bandWidth u16
    22  motorCmd[20] × 27 bytes:
          mode u8 (0x0A servo)  q f32  dq f32
          tau i16 (= trunc(tau·256))  Kp u16 (= trunc(Kp·32))  Kd u16 (= trunc(Kd·16))
          reserve u32[3]
    562 bms: off u8, reserve u8[3]
    566 wirelessRemote u8[40]   606 reserve u32                    610 crc u32

LowState, 807 bytes (``LOW_STATE_LENGTH``; ``sizeof(LowState)`` would be 937)::

    0   head, levelFlag, frameReserve, SN, version, bandWidth (as LowCmd, 22 bytes)
    22  imu: quaternion f32[4] (w, x, y, z), gyroscope f32[3], accelerometer f32[3],
             rpy f32[3], temperature i8                                       (53 bytes)
    75  motorState[20] × 32 bytes:
          mode u8  q f32  dq f32  ddq i16  tauEst i16 (= tauEst·256)  q_raw f32  dq_raw f32
          ddq_raw i16  temperature i8  reserve u32[2]
    715 bms: version_h u8, version_l u8, bms_status u8, SOC u8, current i32, cycle u16,
             BQ_NTC i8[2], MCU_NTC i8[2], cell_vol u8[10] (= mV / 32)         (24 bytes)
    739 footForce i16[4]        747 footForceEst i16[4]            755 tick u32 (µs)
    759 wirelessRemote u8[40]   799 reserve u32                    803 crc u32

CRC (both directions, low level): :func:`crc32_core` over the first ``len // 4 − 1`` 32-bit
words (LowCmd: 152 words = bytes 0..607; LowState: 200 words = bytes 0..799), stored in the
last 4 bytes, in the clear. (SDK 3.8 obfuscates the CRC of *high-level* packets; not low.)
The SDK quantizes tau, Kp and Kd with a float32 multiply and a truncating conversion whose
low 16 bits are kept: out-of-range values wrap. :func:`encode_low_cmd` does exactly that.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np

from quadmimic.core.errors import QuadmimicError
from robot_deploy.remote import decode_remote
from robot_deploy.robot import JointCommand, RobotState

HEAD = (0xFE, 0xEF)
LOWLEVEL = 0xFF
HIGHLEVEL = 0xEE
SERVO_MODE = 0x0A
"""Motor mode: closed-loop servo (any other mode: the motor is off, no torque)."""
POS_STOP_F = 2.146e9
"""``PosStopF``: a position target meaning "no position term"."""
VEL_STOP_F = 16000.0
"""``VelStopF``: a velocity target meaning "no velocity term"."""
N_MOTORS = 20
N_JOINTS = 12

TAU_SCALE = 256.0
KP_SCALE = 32.0
KD_SCALE = 16.0
TAU_EST_SCALE = 256.0
CELL_VOL_SCALE = 32.0

MOTOR_CMD_DTYPE = np.dtype([
    ("mode", "u1"), ("q", "<f4"), ("dq", "<f4"), ("tau", "<i2"), ("Kp", "<u2"), ("Kd", "<u2"),
    ("reserve", "<u4", (3,)),
])
LOW_CMD_DTYPE = np.dtype([
    ("head", "u1", (2,)), ("levelFlag", "u1"), ("frameReserve", "u1"), ("SN", "<u4", (2,)),
    ("version", "<u4", (2,)), ("bandWidth", "<u2"), ("motorCmd", MOTOR_CMD_DTYPE, (N_MOTORS,)),
    ("bms_off", "u1"), ("bms_reserve", "u1", (3,)), ("wirelessRemote", "u1", (40,)),
    ("reserve", "<u4"), ("crc", "<u4"),
])
IMU_DTYPE = np.dtype([
    ("quaternion", "<f4", (4,)), ("gyroscope", "<f4", (3,)), ("accelerometer", "<f4", (3,)),
    ("rpy", "<f4", (3,)), ("temperature", "i1"),
])
MOTOR_STATE_DTYPE = np.dtype([
    ("mode", "u1"), ("q", "<f4"), ("dq", "<f4"), ("ddq", "<i2"), ("tauEst", "<i2"),
    ("q_raw", "<f4"), ("dq_raw", "<f4"), ("ddq_raw", "<i2"), ("temperature", "i1"),
    ("reserve", "<u4", (2,)),
])
BMS_STATE_DTYPE = np.dtype([
    ("version_h", "u1"), ("version_l", "u1"), ("bms_status", "u1"), ("SOC", "u1"),
    ("current", "<i4"), ("cycle", "<u2"), ("BQ_NTC", "i1", (2,)), ("MCU_NTC", "i1", (2,)),
    ("cell_vol", "u1", (10,)),
])
LOW_STATE_DTYPE = np.dtype([
    ("head", "u1", (2,)), ("levelFlag", "u1"), ("frameReserve", "u1"), ("SN", "<u4", (2,)),
    ("version", "<u4", (2,)), ("bandWidth", "<u2"), ("imu", IMU_DTYPE),
    ("motorState", MOTOR_STATE_DTYPE, (N_MOTORS,)), ("bms", BMS_STATE_DTYPE),
    ("footForce", "<i2", (4,)), ("footForceEst", "<i2", (4,)), ("tick", "<u4"),
    ("wirelessRemote", "u1", (40,)), ("reserve", "<u4"), ("crc", "<u4"),
])
LOW_CMD_LENGTH = LOW_CMD_DTYPE.itemsize
LOW_STATE_LENGTH = LOW_STATE_DTYPE.itemsize
assert LOW_CMD_LENGTH == 614 and LOW_STATE_LENGTH == 807


# ---------------------------------------------------------------------------------- errors
class WireError(QuadmimicError):
    """A packet that is not a valid Go1 low-level packet.

    Attributes:
        reason: Short machine-readable reason ("size", "header", "crc").
    """

    reason = "invalid"


class PacketSizeError(WireError):
    """The packet has the wrong length."""

    reason = "size"


class PacketHeaderError(WireError):
    """The packet's head bytes or level flag are not those of a low-level packet."""

    reason = "header"


class PacketCrcError(WireError):
    """The packet's CRC does not match its content."""

    reason = "crc"


# ---------------------------------------------------------------------------------- CRC
_BITREV = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


def crc32_core(words: bytes | np.ndarray) -> int:
    """Unitree's ``crc32_core`` over little-endian 32-bit words.

    The SDK runs, per word and per bit from the most significant: shift the register left,
    XOR the polynomial 0x04C11DB7 if the bit shifted out was set, XOR it again if the data bit
    is set; initial value 0xFFFFFFFF, no final XOR. That is CRC-32/MPEG-2 over each word's bits
    most significant first, computed here with :func:`binascii.crc32` (the reflected CRC-32)
    on the bit-reversed words.

    Args:
        words: The data; its length must be a multiple of 4 bytes.

    Returns:
        The CRC (unsigned 32-bit).
    """
    if isinstance(words, np.ndarray):
        raw = np.ascontiguousarray(words).view(np.uint8).reshape(-1)
    else:
        raw = np.frombuffer(bytes(words), dtype=np.uint8)
    if raw.size % 4:
        raise ValueError("crc32_core needs whole 32-bit words")
    rev = _BITREV[raw.reshape(-1, 4)[:, ::-1]]  # bit-reverse each whole 32-bit word
    reflected = binascii.crc32(rev.tobytes()) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def packet_crc(packet: bytes | bytearray | memoryview) -> int:
    """The CRC a packet of this length must carry (over all words but the last)."""
    n = (len(packet) // 4 - 1) * 4
    return crc32_core(bytes(packet[:n]))


def _seal(buf: np.ndarray) -> bytes:
    """Fill in the CRC of a one-record structured array and return the packet bytes."""
    data = bytearray(buf.tobytes())
    crc = packet_crc(data)
    data[-4:] = crc.to_bytes(4, "little")
    return bytes(data)


def _check(data: bytes | bytearray | memoryview, dtype: np.dtype, name: str) -> np.void:
    if len(data) != dtype.itemsize:
        raise PacketSizeError(f"{name} must be {dtype.itemsize} bytes, got {len(data)}")
    rec = np.frombuffer(bytes(data), dtype=dtype)[0]
    if (int(rec["head"][0]), int(rec["head"][1])) != HEAD or int(rec["levelFlag"]) != LOWLEVEL:
        raise PacketHeaderError(f"{name} head {bytes(rec['head']).hex()} level "
                                f"{int(rec['levelFlag']):#04x} is not a low-level packet")
    want = packet_crc(data)
    if int(rec["crc"]) != want:
        raise PacketCrcError(f"{name} CRC {int(rec['crc']):#010x} != {want:#010x}")
    return rec


def _quantize(values: np.ndarray, scale: float, dtype: str) -> np.ndarray:
    """The SDK's ``(int16)(int)(value·scale)``: float32 product, truncation, low 16 bits."""
    prod = np.asarray(values, np.float32) * np.float32(scale)
    out = np.full(prod.shape, -(2 ** 31), dtype=np.int64)  # what cvttss2si gives when invalid
    ok = np.isfinite(prod) & (np.abs(prod) < 2.0 ** 31)
    out[ok] = np.trunc(prod[ok]).astype(np.int64)
    return (out & 0xFFFF).astype(np.uint16).view(dtype)


# ---------------------------------------------------------------------------------- LowCmd
@dataclass(frozen=True)
class LowCmdPacket:
    """A decoded LowCmd: header fields and the 20 motor commands (SI units, float64).

    Attributes:
        level_flag: 0xFF for low level.
        frame_reserve: Header byte after the level flag.
        sn: Serial number words (2,).
        version: Version words (2,).
        bandwidth: Band width field.
        mode: (20,) motor modes (0x0A servo).
        q: (20,) position targets (rad; ``POS_STOP_F`` = no position term).
        dq: (20,) velocity targets (rad/s; ``VEL_STOP_F`` = no velocity term).
        tau: (20,) feed-forward torques (N·m, 1/256 steps).
        kp: (20,) position gains (1/32 steps).
        kd: (20,) velocity gains (1/16 steps).
        bms_off: Battery command byte (0xA5 = power off).
        wireless_remote: (40,) raw remote bytes.
        reserve: Reserve word.
        crc: The packet's CRC.
    """

    level_flag: int
    frame_reserve: int
    sn: np.ndarray
    version: np.ndarray
    bandwidth: int
    mode: np.ndarray
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    bms_off: int
    wireless_remote: np.ndarray
    reserve: int
    crc: int

    def joint_command(self, n: int = N_JOINTS) -> JointCommand:
        """The command motors 0..n−1 execute, as a :class:`JointCommand`.

        A motor not in servo mode is off (no torque); ``PosStopF`` as a position target turns
        the position term off (``kp`` → 0), ``VelStopF`` as a velocity target the velocity
        term (``kd`` → 0), as the SDK documents them.
        """
        servo = self.mode[:n] == SERVO_MODE
        no_pos = np.abs(self.q[:n] - POS_STOP_F) < 1e3
        no_vel = np.abs(self.dq[:n] - VEL_STOP_F) < 1e-2
        q = np.where(no_pos, 0.0, self.q[:n])
        dq = np.where(no_vel, 0.0, self.dq[:n])
        kp = np.where(servo & ~no_pos, self.kp[:n], 0.0)
        kd = np.where(servo & ~no_vel, self.kd[:n], 0.0)
        tau = np.where(servo, self.tau[:n], 0.0)
        return JointCommand(q=q, dq=dq, kp=kp, kd=kd, tau=tau)


def decode_low_cmd(data: bytes | bytearray | memoryview) -> LowCmdPacket:
    """Decode and check one LowCmd packet.

    Raises:
        PacketSizeError: Not 614 bytes.
        PacketHeaderError: Not a low-level packet (head FE EF, level flag FF).
        PacketCrcError: The CRC does not match.
    """
    rec = _check(data, LOW_CMD_DTYPE, "LowCmd")
    m = rec["motorCmd"]
    return LowCmdPacket(
        level_flag=int(rec["levelFlag"]), frame_reserve=int(rec["frameReserve"]),
        sn=rec["SN"].astype(np.int64), version=rec["version"].astype(np.int64),
        bandwidth=int(rec["bandWidth"]), mode=m["mode"].astype(np.int64),
        q=m["q"].astype(np.float64), dq=m["dq"].astype(np.float64),
        tau=m["tau"].astype(np.float64) / TAU_SCALE, kp=m["Kp"].astype(np.float64) / KP_SCALE,
        kd=m["Kd"].astype(np.float64) / KD_SCALE, bms_off=int(rec["bms_off"]),
        wireless_remote=rec["wirelessRemote"].copy(), reserve=int(rec["reserve"]),
        crc=int(rec["crc"]))


def _pad(values: np.ndarray | float | None, fill: float) -> np.ndarray:
    out = np.full(N_MOTORS, fill, dtype=np.float64)
    if values is not None:
        v = np.atleast_1d(np.asarray(values, np.float64))
        if v.size == 1:
            out[:] = v[0]
        else:
            out[: v.size] = v
    return out


def encode_low_cmd(q: np.ndarray | None = None, dq: np.ndarray | None = None,
                   tau: np.ndarray | None = None, kp: np.ndarray | None = None,
                   kd: np.ndarray | None = None, *, mode: int | np.ndarray = SERVO_MODE,
                   level_flag: int = LOWLEVEL, head: tuple[int, int] = HEAD) -> bytes:
    """Encode a LowCmd exactly as the SDK's ``SetSend`` does (including its quantization).

    Arrays have up to 20 entries (motors beyond them get ``PosStopF``/``VelStopF``, zero
    gains and torque, like ``InitCmdData``); ``None`` means those defaults for all motors.
    """
    rec = np.zeros(1, dtype=LOW_CMD_DTYPE)
    rec["head"] = head
    rec["levelFlag"] = level_flag
    m = rec["motorCmd"][0]
    m["mode"] = np.broadcast_to(np.asarray(mode, np.uint8), (N_MOTORS,))
    m["q"] = _pad(q, POS_STOP_F).astype(np.float32)
    m["dq"] = _pad(dq, VEL_STOP_F).astype(np.float32)
    m["tau"] = _quantize(_pad(tau, 0.0), TAU_SCALE, "<i2")
    m["Kp"] = _quantize(_pad(kp, 0.0), KP_SCALE, "<u2")
    m["Kd"] = _quantize(_pad(kd, 0.0), KD_SCALE, "<u2")
    return _seal(rec)


def encode_joint_command(cmd: JointCommand) -> bytes:
    """A LowCmd packet for a :class:`JointCommand` (motors 0..11 in servo mode)."""
    return encode_low_cmd(cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd)


# ---------------------------------------------------------------------------------- LowState
@dataclass(frozen=True)
class LowStatePacket:
    """A decoded LowState (SI units, float64 arrays; motor arrays have 20 entries).

    Attributes:
        tick: Robot time (µs, wraps at 2³²).
        quaternion: (4,) IMU orientation, Unitree order w, x, y, z.
        gyroscope: (3,) body angular velocity (rad/s).
        accelerometer: (3,) body acceleration, gravity included (m/s²).
        rpy: (3,) roll, pitch, yaw (rad).
        imu_temperature: IMU temperature (°C).
        mode: (20,) motor modes.
        q: (20,) joint angles (rad).
        dq: (20,) joint speeds (rad/s).
        ddq: (20,) joint accelerations (rad/s², integer steps).
        tau_est: (20,) estimated torques (N·m, 1/256 steps).
        motor_temperature: (20,) motor temperatures (°C).
        foot_force: (4,) foot force sensors (raw units).
        foot_force_est: (4,) estimated foot forces.
        soc: Battery state of charge (%).
        bms_current: Battery current (mA).
        cell_vol: (10,) cell voltages (mV, 32 mV steps).
        wireless_remote: (40,) raw remote bytes.
        crc: The packet's CRC.
    """

    tick: int
    quaternion: np.ndarray
    gyroscope: np.ndarray
    accelerometer: np.ndarray
    rpy: np.ndarray
    imu_temperature: int
    mode: np.ndarray
    q: np.ndarray
    dq: np.ndarray
    ddq: np.ndarray
    tau_est: np.ndarray
    motor_temperature: np.ndarray
    foot_force: np.ndarray
    foot_force_est: np.ndarray
    soc: int
    bms_current: int
    cell_vol: np.ndarray
    wireless_remote: np.ndarray
    crc: int

    def robot_state(self, stamp: float, contact_threshold: float = 15.0) -> RobotState:
        """This reading as a :class:`RobotState` (quaternion reordered to x, y, z, w)."""
        w, x, y, z = self.quaternion
        return RobotState(q=self.q[:N_JOINTS], dq=self.dq[:N_JOINTS],
                          tau=self.tau_est[:N_JOINTS], quat=np.array([x, y, z, w]),
                          gyro=self.gyroscope, accel=self.accelerometer, stamp=stamp,
                          foot_contact=self.foot_force > contact_threshold,
                          remote=decode_remote(self.wireless_remote))


def decode_low_state(data: bytes | bytearray | memoryview) -> LowStatePacket:
    """Decode and check one LowState packet.

    Raises:
        PacketSizeError: Not 807 bytes.
        PacketHeaderError: Not a low-level packet.
        PacketCrcError: The CRC does not match.
    """
    rec = _check(data, LOW_STATE_DTYPE, "LowState")
    imu, m, bms = rec["imu"], rec["motorState"], rec["bms"]
    f64 = np.float64
    return LowStatePacket(
        tick=int(rec["tick"]), quaternion=imu["quaternion"].astype(f64),
        gyroscope=imu["gyroscope"].astype(f64), accelerometer=imu["accelerometer"].astype(f64),
        rpy=imu["rpy"].astype(f64), imu_temperature=int(imu["temperature"]),
        mode=m["mode"].astype(np.int64), q=m["q"].astype(f64), dq=m["dq"].astype(f64),
        ddq=m["ddq"].astype(f64), tau_est=m["tauEst"].astype(f64) / TAU_EST_SCALE,
        motor_temperature=m["temperature"].astype(np.int64),
        foot_force=rec["footForce"].astype(f64), foot_force_est=rec["footForceEst"].astype(f64),
        soc=int(bms["SOC"]), bms_current=int(bms["current"]),
        cell_vol=bms["cell_vol"].astype(f64) * CELL_VOL_SCALE,
        wireless_remote=rec["wirelessRemote"].copy(), crc=int(rec["crc"]))


def quat_wxyz_to_rpy(quat_wxyz: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (rad, Z-Y-X Euler) of a w, x, y, z quaternion."""
    from quadmimic.core.geometry import quat_to_matrix, roll_pitch, yaw_of

    w, x, y, z = np.asarray(quat_wxyz, np.float64)
    rot = quat_to_matrix(np.array([x, y, z, w]))
    return np.r_[roll_pitch(rot), float(yaw_of(rot))]


def _int16(values: np.ndarray, scale: float = 1.0) -> np.ndarray:
    v = np.asarray(values, np.float64) * scale
    if not np.isfinite(v).all():
        v = np.where(np.isnan(v), 0.0, v)
    return np.rint(np.clip(v, -32768.0, 32767.0)).astype(np.int16)


def encode_low_state(state: RobotState, tick: int, *, foot_force: np.ndarray | None = None,
                     contact_force: float = 30.0, mode: int | np.ndarray = SERVO_MODE,
                     motor_temperature: int = 30, imu_temperature: int = 30, soc: int = 90,
                     ddq: np.ndarray | None = None, wireless_remote: bytes | None = None) -> bytes:
    """Encode a robot reading as the LowState a Go1 sends (with a valid CRC).

    Args:
        state: The reading (quaternion xyzw; sent as Unitree's w, x, y, z).
        tick: Robot time (µs; taken modulo 2³²).
        foot_force: (4,) foot forces; default ``contact_force`` on each foot in contact.
        contact_force: Force reported by a foot in contact when ``foot_force`` is None.
        mode: Motor mode(s) to report for motors 0..11.
        motor_temperature: Motor temperatures (°C).
        imu_temperature: IMU temperature (°C).
        soc: Battery state of charge (%).
        ddq: (12,) joint accelerations (rad/s²), default 0.
        wireless_remote: The remote's 40 bytes (:func:`robot_deploy.remote.encode_remote`),
            default all zero (nothing pressed).

    Returns:
        The 807-byte packet.
    """
    rec = np.zeros(1, dtype=LOW_STATE_DTYPE)
    rec["head"] = HEAD
    rec["levelFlag"] = LOWLEVEL
    x, y, z, w = state.quat
    imu = rec["imu"]
    imu["quaternion"] = (w, x, y, z)
    imu["gyroscope"] = state.gyro
    imu["accelerometer"] = state.accel
    imu["rpy"] = quat_wxyz_to_rpy(np.array([w, x, y, z]))
    imu["temperature"] = imu_temperature
    m = rec["motorState"][0]
    j = slice(0, N_JOINTS)
    m["mode"][j] = mode
    m["q"][j] = state.q
    m["dq"][j] = state.dq
    m["q_raw"][j] = state.q
    m["dq_raw"][j] = state.dq
    m["tauEst"][j] = _int16(state.tau, TAU_EST_SCALE)
    if ddq is not None:
        m["ddq"][j] = _int16(ddq)
    m["temperature"][j] = motor_temperature
    if foot_force is None:
        contact = (np.zeros(4, bool) if state.foot_contact is None
                   else np.asarray(state.foot_contact, bool))
        foot_force = np.where(contact, contact_force, 0.0)
    rec["footForce"] = _int16(foot_force)
    rec["footForceEst"] = _int16(foot_force)
    bms = rec["bms"]
    bms["SOC"] = soc
    bms["cell_vol"] = round(4000 / CELL_VOL_SCALE)
    rec["tick"] = int(tick) & 0xFFFFFFFF
    if wireless_remote is not None:
        rec["wirelessRemote"] = np.frombuffer(bytes(wireless_remote), np.uint8, count=40)
    return _seal(rec)
