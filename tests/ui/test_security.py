"""The Host allow-list's rules, without a server."""

from __future__ import annotations

from stackml.server.security import LOOPBACK_HOSTS, _host_name, allowed_host_names


def test_loopback_server_accepts_loopback_names_only() -> None:
    assert allowed_host_names() == LOOPBACK_HOSTS
    assert allowed_host_names("127.0.0.1") == LOOPBACK_HOSTS
    assert "ml.example.com" in allowed_host_names("127.0.0.1", "ml.example.com, other")


def test_exposed_server_accepts_any_host_unless_names_are_listed() -> None:
    assert allowed_host_names("0.0.0.0") == {"*"}
    listed = allowed_host_names("10.0.0.5", "ml.example.com")
    assert {"10.0.0.5", "ml.example.com", "localhost"} <= listed and "*" not in listed
    assert "[fd00::1]" in allowed_host_names("fd00::1", "x")


def test_host_header_parsing() -> None:
    assert _host_name("LOCALHOST:5000") == "localhost"
    assert _host_name("[::1]:8080") == "[::1]"
    assert _host_name("127.0.0.1") == "127.0.0.1"
    assert _host_name("evil.test:80:90") == "evil.test:80:90"
