"""Host and port checks for the commands that start a server."""

from __future__ import annotations

import ipaddress
import socket

from stackml.cli._console import print_warning


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, *, auth: bool) -> None:
    """Warn loudly when a server without authentication listens beyond this machine."""
    if auth or is_loopback(host):
        return
    print_warning(
        f"binding {host} WITHOUT --auth: anyone who can reach this machine can read and "
        "change every run, artifact and model. Add --auth (and create tokens with "
        "`stackml token create`) or bind 127.0.0.1."
    )


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, preferred: int) -> int:
    """``preferred`` if it is free on ``host``, else a port the system picks."""
    if preferred and port_is_free(host, preferred):
        return preferred
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
