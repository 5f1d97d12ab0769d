"""The binary RPC frame: encoder, stream reassembler and heartbeat TLVs (spec/rpc.md §2, §5).

A frame is a 36-byte little-endian header (`HEADER`), an optional extension
blob and a body.  The header's checksum is the IEEE CRC-32 (`zlib.crc32`) of
the whole frame computed with the checksum field zeroed.  This module does no
I/O: `FrameDecoder` turns the bytes of a stream into `Frame` objects,
`decode_packet` reads the single frame of a datagram, and the `encode_*`
functions build the bytes to send.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "HEARTBEAT_TIMEOUT_DEFAULT",
    "HEARTBEAT_TIMEOUT_MAX",
    "HEARTBEAT_TIMEOUT_MIN",
    "HEARTBEAT_TYPE_TIMEOUT",
    "MAGIC",
    "MAX_BODY_SIZE",
    "PKG_PUSH",
    "PKG_REPLY",
    "PKG_REQUEST",
    "Frame",
    "FrameDecoder",
    "ProtocolError",
    "clamp_heartbeat_timeout",
    "decode_packet",
    "encode_frame",
    "encode_heartbeat_reply",
    "encode_heartbeat_request",
    "encode_reply",
    "heartbeat_body",
    "parse_heartbeat_body",
]

HEADER = struct.Struct("<IIHIIIQIH")
HEADER_SIZE = HEADER.size
MAGIC = 0x70656562
PKG_REQUEST = 0
PKG_REPLY = 1
PKG_PUSH = 2
MAX_BODY_SIZE = (2**32 - 1) // 2 - 65535 - 52

CMD_HEARTBEAT = 0
HEARTBEAT_TYPE_TIMEOUT = 1
HEARTBEAT_TIMEOUT_DEFAULT = 3.0
HEARTBEAT_TIMEOUT_MIN = 2.0
HEARTBEAT_TIMEOUT_MAX = 600.0

_U64 = 0xFFFFFFFFFFFFFFFF
_SIGN64 = 1 << 63
_CRC_OFFSET = 14
_CRC_END = 18
_ZERO_CRC = b"\0\0\0\0"
_pack = HEADER.pack
_unpack_from = HEADER.unpack_from
_crc32 = zlib.crc32
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

assert HEADER_SIZE == 36
assert MAX_BODY_SIZE == 2147418060


class ProtocolError(Exception):
    """A frame that breaks the protocol; the stream carrying it must be closed.

    `frames` holds the well-formed frames decoded from the same input before
    the broken one, so a receiver can still act on them in order.
    """

    def __init__(self, message: str, frames: list[Frame] | None = None) -> None:
        super().__init__(message)
        self.frames: list[Frame] = frames if frames is not None else []


@dataclass(slots=True)
class Frame:
    """One decoded frame; `req_id` is the raw u64 of the header."""

    command: int
    pkg_type: int
    result: int
    sequence: int
    req_id: int
    ext: bytes
    body: bytes

    @property
    def signed_req_id(self) -> int:
        """`req_id` read as a two's-complement signed 64-bit integer (the JSON `id`)."""
        req_id = self.req_id
        return req_id - (1 << 64) if req_id & _SIGN64 else req_id


def encode_frame(command: int, pkg_type: int, sequence: int, req_id: int, body: bytes = b"",
                 ext: bytes = b"", result: int = 0) -> bytes:
    """The bytes of one frame; a negative `req_id` is stored as its two's complement.

    ValueError if the body exceeds `MAX_BODY_SIZE` (the original refuses to send it).
    """
    body_size = len(body)
    if body_size > MAX_BODY_SIZE:
        raise ValueError(f"rpc body of {body_size} bytes exceeds the limit of {MAX_BODY_SIZE}")
    req_id &= _U64
    ext_size = len(ext)
    crc = _crc32(_pack(MAGIC, command, pkg_type, result, 0, sequence, req_id, body_size, ext_size))
    if ext_size:
        crc = _crc32(ext, crc)
        return _pack(MAGIC, command, pkg_type, result, _crc32(body, crc), sequence, req_id,
                     body_size, ext_size) + ext + body
    return _pack(MAGIC, command, pkg_type, result, _crc32(body, crc), sequence, req_id,
                 body_size, 0) + body


def encode_reply(request: Frame, body: bytes) -> bytes:
    """A reply to `request`: its whole header (command, sequence, req_id, result, ext), type reply."""
    return encode_frame(request.command, PKG_REPLY, request.sequence, request.req_id, body,
                        request.ext, request.result)


def clamp_heartbeat_timeout(seconds: float) -> float:
    """The original's rule for a heartbeat timeout: clamp to [2, 600] seconds."""
    if seconds > HEARTBEAT_TIMEOUT_MAX:
        return HEARTBEAT_TIMEOUT_MAX
    if seconds < HEARTBEAT_TIMEOUT_MIN:
        return HEARTBEAT_TIMEOUT_MIN
    return seconds


def heartbeat_body(timeout: float) -> bytes:
    """The 8-byte TLV a client puts in its heartbeat: type 1, length 4, timeout in ms."""
    return _U16.pack(HEARTBEAT_TYPE_TIMEOUT) + _U16.pack(4) + _U32.pack(int(timeout * 1000) & 0xFFFFFFFF)


def encode_heartbeat_request(timeout: float = HEARTBEAT_TIMEOUT_DEFAULT) -> bytes:
    """A client's heartbeat frame (command 0, sequence 0, req_id 0) announcing `timeout` seconds."""
    return encode_frame(CMD_HEARTBEAT, PKG_REQUEST, 0, 0, heartbeat_body(timeout))


def encode_heartbeat_reply(request: Frame) -> bytes:
    """A server's answer to a heartbeat: the request header, type reply, empty body."""
    return encode_reply(request, b"")


def parse_heartbeat_body(body: bytes) -> float | None:
    """The timeout (seconds, clamped) announced by a heartbeat body, or None if it has none.

    Reproduces ut_rpc_svr.c: a run of (type u16, len u16, value) TLVs; type 1
    must have len 4; other types are skipped.  As in ut_pack.c each u16 read
    requires 4 bytes left, so a type or length field in the last 2 or 3 bytes
    of the body is an error.  ProtocolError on any malformed body.
    """
    left = len(body)
    pos = 0
    timeout: float | None = None
    while left > 0:
        if left < 4:
            raise ProtocolError("heartbeat tlv: truncated type")
        tlv_type = body[pos] | body[pos + 1] << 8
        pos += 2
        left -= 2
        if left < 4:
            raise ProtocolError("heartbeat tlv: truncated length")
        length = body[pos] | body[pos + 1] << 8
        pos += 2
        left -= 2
        if left < length:
            raise ProtocolError("heartbeat tlv: value longer than the body")
        if tlv_type == HEARTBEAT_TYPE_TIMEOUT:
            if length != 4:
                raise ProtocolError("heartbeat tlv: timeout value must be 4 bytes")
            timeout = clamp_heartbeat_timeout(_U32.unpack_from(body, pos)[0] / 1000)
        pos += length
        left -= length
    return timeout


def decode_packet(data: bytes, max_pkg_size: int) -> Frame:
    """The frame of one datagram or seqpacket record; bytes after the frame are ignored."""
    size = len(data)
    if size < HEADER_SIZE:
        raise ProtocolError(f"packet of {size} bytes is shorter than a frame header")
    magic, command, pkg_type, result, crc, sequence, req_id, body_size, ext_size = _unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic 0x{magic:08x}")
    end = HEADER_SIZE + ext_size + body_size
    if end > max_pkg_size:
        raise ProtocolError(f"frame of {end} bytes exceeds max_pkg_size {max_pkg_size}")
    if end > size:
        raise ProtocolError(f"packet of {size} bytes holds a truncated frame of {end} bytes")
    with memoryview(data) as view:
        if _crc32(view[_CRC_END:end], _crc32(_ZERO_CRC, _crc32(view[:_CRC_OFFSET]))) != crc:
            raise ProtocolError("crc mismatch")
        body_start = HEADER_SIZE + ext_size
        ext = bytes(view[HEADER_SIZE:body_start]) if ext_size else b""
        return Frame(command, pkg_type, result, sequence, req_id, ext, bytes(view[body_start:end]))


class FrameDecoder:
    """Reassembles the frames of a byte stream (TCP, unix stream), as in spec/rpc.md §2.2.

    `feed` returns every frame completed by the new bytes.  It raises
    ProtocolError on a bad magic, a crc mismatch, or as soon as a header
    announces a frame larger than `max_pkg_size` (header + ext + body).
    """

    __slots__ = ("_buf", "max_pkg_size")

    def __init__(self, max_pkg_size: int) -> None:
        self.max_pkg_size = max_pkg_size
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        buf = self._buf
        if buf:
            buf += data
            frames, used = _decode_stream(buf, self.max_pkg_size)
            del buf[:used]
        else:
            frames, used = _decode_stream(data, self.max_pkg_size)
            if used < len(data):
                with memoryview(data) as view:
                    buf += view[used:]
        return frames


def _decode_stream(data: bytes | bytearray | memoryview, max_pkg_size: int) -> tuple[list[Frame], int]:
    """The complete frames at the start of `data` and the number of bytes they take."""
    frames: list[Frame] = []
    append = frames.append
    unpack_from = _unpack_from
    crc32 = _crc32
    zero_crc = _ZERO_CRC
    raw = data if isinstance(data, bytes) else None
    size = len(data)
    pos = 0
    with memoryview(data) as view:
        while size - pos >= HEADER_SIZE:
            magic, command, pkg_type, result, crc, sequence, req_id, body_size, ext_size = unpack_from(data, pos)
            if magic != MAGIC:
                raise ProtocolError(f"bad magic 0x{magic:08x}", frames)
            body_start = pos + HEADER_SIZE + ext_size
            end = body_start + body_size
            if end - pos > max_pkg_size:
                raise ProtocolError(f"frame of {end - pos} bytes exceeds max_pkg_size {max_pkg_size}", frames)
            if end > size:
                break
            if crc32(view[pos + _CRC_END:end], crc32(zero_crc, crc32(view[pos:pos + _CRC_OFFSET]))) != crc:
                raise ProtocolError("crc mismatch", frames)
            if raw is not None:
                body = raw[body_start:end]
                ext = raw[pos + HEADER_SIZE:body_start] if ext_size else b""
            else:
                body = bytes(view[body_start:end])
                ext = bytes(view[pos + HEADER_SIZE:body_start]) if ext_size else b""
            append(Frame(command, pkg_type, result, sequence, req_id, ext, body))
            pos = end
    return frames, pos
