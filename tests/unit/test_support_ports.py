"""tests.support.free_port keeps to VIABTC_PORTS when it is set."""

from __future__ import annotations

import socket

import pytest

from tests import support


def test_free_port_stays_in_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIABTC_PORTS", "44990-44999")
    monkeypatch.setattr(support, "_handed_out", set())
    ports = [support.free_port() for _ in range(4)]
    assert all(44990 <= port <= 44999 for port in ports)
    assert len(set(ports)) == 4  # not handed out twice before they are bound


def test_free_port_skips_a_bound_port(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        monkeypatch.setenv("VIABTC_PORTS", f"{port}-{port}")
        monkeypatch.setattr(support, "_handed_out", set())
        with pytest.raises(RuntimeError):
            support.free_port()
