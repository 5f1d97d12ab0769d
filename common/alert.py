"""The sender side of alerts (spec/alertcenter.md §1, spec/rpc.md §10.2).

Each FATAL log line becomes one fire-and-forget UDP datagram to alertcenter:
ASCII magic ``373d26968a5a2b698045`` + ``<alert.host>: `` + text + ``\\n``,
cut to 10240 bytes (which drops the newline of a longer message).  The socket
is non-blocking and every error is swallowed: an alert never blocks and never
raises into the code that logged it, whether alertcenter is up or not.

`common.log.setup_logging` installs `AlertHandler` on the root logger; other
code may call `send_alert` directly.
"""

from __future__ import annotations

import logging
import socket

from common.config import AlertConfig, ConfigError

ALERT_MAGIC = b"373d26968a5a2b698045"
ALERT_MAX_SIZE = 10240


def build_alert(host: str, text: str) -> bytes:
    """The datagram of one alert: one line, so a traceback's line breaks travel as the two characters `\\n`."""
    text = text.replace("\r", "").replace("\n", "\\n")
    data = ALERT_MAGIC + f"{host}: {text}\n".encode("utf-8", "backslashreplace")
    return data[:ALERT_MAX_SIZE]


class AlertSender:
    """An unconnected, non-blocking UDP socket aimed at alertcenter."""

    def __init__(self, host: str, addr: tuple[str, int]) -> None:
        infos = socket.getaddrinfo(addr[0], addr[1], type=socket.SOCK_DGRAM)
        family, _, _, _, sockaddr = infos[0]
        self.host = host
        self.addr = sockaddr
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def send(self, text: str) -> bool:
        """Send one alert; False when it could not be handed to the kernel."""
        try:
            self.sock.sendto(build_alert(self.host, text), self.addr)
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


_sender: AlertSender | None = None


def init_alert(config: AlertConfig) -> AlertSender:
    """Create the process's alert sender (replacing a previous one); ConfigError if `alert.addr` is unusable."""
    global _sender
    try:
        sender = AlertSender(config.host, config.addr)
    except OSError as exc:
        raise ConfigError(f"config error: field 'alert.addr': cannot use '{config.addr[0]}:{config.addr[1]}': "
                          f"{exc.strerror or exc}") from None
    if _sender is not None:
        _sender.close()
    _sender = sender
    return sender


def send_alert(text: str) -> bool:
    """Send `text` to alertcenter; False (and nothing sent) before `init_alert` or on any error."""
    sender = _sender
    if sender is None:
        return False
    return sender.send(text)


class AlertHandler(logging.Handler):
    """Sends every record it is given as one alert (the caller sets its level and filters)."""

    def __init__(self, sender: AlertSender) -> None:
        super().__init__()
        self.sender = sender

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sender.send(self.format(record))
        except Exception:
            pass
