"""The network that faces the robot: interface names and robot addresses, checked up front.

Unitree's low-level links are on a private Ethernet: the Go2 speaks DDS on the interface
``unitree_sdk2`` is given, the Go1's low-level board answers UDP at ``192.168.123.10``. Here
the loopback interface ``lo`` (and 127.0.0.1) reaches the emulators. A wrong name or address
is refused with one line before anything is sent (:class:`NetworkOptionError`).
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from quadmimic.core.errors import QuadmimicError

LOOPBACK_INTERFACE = "lo"
GO1_ROBOT_IP = "192.168.123.10"
"""The Go1's low-level board on the robot's network (Unitree's documentation)."""

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


class NetworkOptionError(QuadmimicError):
    """A network interface that does not exist, or a malformed or unreachable robot address."""


def parse_robot_ip(text: str, option: str = "--robot-ip") -> str:
    """``text`` as a dotted IPv4 address.

    Raises:
        NetworkOptionError: Not an IPv4 address.
    """
    try:
        return str(ipaddress.IPv4Address(str(text).strip()))
    except ValueError:
        raise NetworkOptionError(f"{option}: {text!r} is not an IPv4 address (a Go1: "
                                 f"{GO1_ROBOT_IP})") from None


def interface_names() -> list[str]:
    """The network interfaces of this machine."""
    return [name for _, name in socket.if_nameindex()]


def check_interface(name: str, option: str = "--interface") -> str:
    """``name`` if this machine has that network interface.

    Raises:
        NetworkOptionError: No such interface.
    """
    names = interface_names()
    if name not in names:
        raise NetworkOptionError(f"{option}: no network interface {name!r} "
                                 f"(have: {', '.join(names)})")
    return name


def interface_ipv4(name: str) -> ipaddress.IPv4Interface | None:
    """The IPv4 address and network of interface ``name`` (None if it has none; Linux)."""
    import fcntl

    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            address = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)[20:24]
            netmask = fcntl.ioctl(sock.fileno(), _SIOCGIFNETMASK, request)[20:24]
        except OSError:
            return None
    return ipaddress.IPv4Interface(f"{socket.inet_ntoa(address)}/{socket.inet_ntoa(netmask)}")


def check_robot_route(robot_ip: str, interface: str) -> None:
    """The robot's address is on the network of ``interface`` (the one that faces it).

    Raises:
        NetworkOptionError: No such interface, it has no IPv4 address, or ``robot_ip`` is
            not on its network.
    """
    check_interface(interface)
    ip = ipaddress.IPv4Address(parse_robot_ip(robot_ip))
    net = interface_ipv4(interface)
    if net is None:
        raise NetworkOptionError(f"--interface: {interface!r} has no IPv4 address")
    if ip not in net.network:
        raise NetworkOptionError(f"robot {ip} is not on interface {interface} ({net}): "
                                 f"see --interface")


def is_loopback(interface: str, robot_ip: str | None = None) -> bool:
    """Whether this reaches an emulator on this machine rather than a robot."""
    if robot_ip is not None:
        return ipaddress.IPv4Address(parse_robot_ip(robot_ip)).is_loopback
    return interface == LOOPBACK_INTERFACE
