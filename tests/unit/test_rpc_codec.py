"""The RPC frame codec against frames built by hand from spec/rpc.md (§2, §5, §9)."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.rpc.codec import (
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_BODY_SIZE,
    PKG_REPLY,
    PKG_REQUEST,
    Frame,
    FrameDecoder,
    ProtocolError,
    decode_packet,
    encode_frame,
    encode_heartbeat_reply,
    encode_heartbeat_request,
    encode_reply,
    heartbeat_body,
    parse_heartbeat_body,
)


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


EXAMPLE_BODY = b'[1, "BTC"]'
EXAMPLE_HEADER_NO_CRC = hexbytes(
    "62 65 65 70  65 00 00 00  00 00  00 00 00 00  00 00 00 00"
    "  01 00 00 00  d2 04 00 00 00 00 00 00  0a 00 00 00  00 00"
)
EXAMPLE_FRAME = hexbytes("""
62 65 65 70 65 00 00 00 00 00 00 00 00 00 8b 10 21 bb
01 00 00 00 d2 04 00 00 00 00 00 00 0a 00 00 00 00 00
5b 31 2c 20 22 42 54 43 22 5d
""")
EXAMPLE_REPLY_BODY = b'{"error": null, "result": {"BTC": {"available": "0", "freeze": "0"}}, "id": 1234}'
EXAMPLE_REPLY_HEADER = hexbytes("""
62 65 65 70 65 00 00 00 01 00 00 00 00 00 74 84 68 c1
01 00 00 00 d2 04 00 00 00 00 00 00 51 00 00 00 00 00
""")
SMALL_FRAME = hexbytes(
    "62 65 65 70 65 00 00 00 00 00 00 00 00 00 7e e8 ce 18 07 00 00 00 2a 00 00 00 00 00 00 00"
    " 03 00 00 00 00 00 5b 31 5d"
)
HEARTBEAT_REQUEST = hexbytes("""
62 65 65 70  00 00 00 00  00 00  00 00 00 00  e3 9c b2 1f
00 00 00 00  00 00 00 00 00 00 00 00  08 00 00 00  00 00
01 00 04 00 b8 0b 00 00
""")
HEARTBEAT_REPLY = hexbytes("""
62 65 65 70  00 00 00 00  01 00  00 00 00 00  c0 3c 32 87
00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00  00 00
""")


def corrupt(frame: bytes, offset: int) -> bytes:
    data = bytearray(frame)
    data[offset] ^= 0x01
    return bytes(data)


def tlv(tlv_type: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HH", tlv_type, len(value) if length is None else length) + value


class TestSpecExamples:
    def test_header_layout_is_36_bytes(self) -> None:
        assert HEADER_SIZE == 36
        assert HEADER.format == "<IIHIIIQIH"
        assert MAGIC.to_bytes(4, "little") == b"beep"

    def test_worked_example_crc_is_ieee_crc32_over_zeroed_frame(self) -> None:
        assert len(EXAMPLE_HEADER_NO_CRC) == 36
        assert zlib.crc32(EXAMPLE_HEADER_NO_CRC + EXAMPLE_BODY) == 0xBB21108B

    def test_encode_worked_example_byte_for_byte(self) -> None:
        frame = encode_frame(101, PKG_REQUEST, 1, 1234, EXAMPLE_BODY)
        assert len(frame) == 46
        assert frame == EXAMPLE_FRAME

    def test_decode_worked_example(self) -> None:
        (frame,) = FrameDecoder(10240).feed(EXAMPLE_FRAME)
        assert frame == Frame(command=101, pkg_type=PKG_REQUEST, result=0, sequence=1, req_id=1234,
                              ext=b"", body=EXAMPLE_BODY)

    def test_reply_to_worked_example_byte_for_byte(self) -> None:
        assert len(EXAMPLE_REPLY_BODY) == 81
        (request,) = FrameDecoder(10240).feed(EXAMPLE_FRAME)
        reply = encode_reply(request, EXAMPLE_REPLY_BODY)
        assert reply == EXAMPLE_REPLY_HEADER + EXAMPLE_REPLY_BODY
        assert struct.unpack_from("<I", reply, 14)[0] == 0xC1688474

    def test_second_example_byte_for_byte(self) -> None:
        assert encode_frame(101, PKG_REQUEST, 7, 42, b"[1]") == SMALL_FRAME
        assert struct.unpack_from("<I", SMALL_FRAME, 14)[0] == 0x18CEE87E
        assert decode_packet(SMALL_FRAME, 10240) == Frame(101, 0, 0, 7, 42, b"", b"[1]")

    def test_heartbeat_request_bytes(self) -> None:
        assert heartbeat_body(3.0) == hexbytes("01 00 04 00 b8 0b 00 00")
        assert encode_heartbeat_request() == HEARTBEAT_REQUEST
        assert encode_heartbeat_request(3.0) == HEARTBEAT_REQUEST
        assert len(HEARTBEAT_REQUEST) == 44

    def test_heartbeat_reply_bytes(self) -> None:
        (request,) = FrameDecoder(1024).feed(HEARTBEAT_REQUEST)
        assert request.command == 0 and request.body == heartbeat_body(3.0)
        assert encode_heartbeat_reply(request) == HEARTBEAT_REPLY
        assert len(HEARTBEAT_REPLY) == 36


class TestEncoding:
    def test_reply_copies_the_whole_request_header(self) -> None:
        request = Frame(command=205, pkg_type=PKG_REQUEST, result=77, sequence=0xFFFFFFFF,
                        req_id=2**64 - 3, ext=b"\x01\x02\x03", body=b"[]")
        reply = encode_reply(request, b"{}")
        magic, command, pkg_type, result, _, sequence, req_id, body_size, ext_size = HEADER.unpack_from(reply)
        assert (magic, command, pkg_type, result, sequence, req_id) == (MAGIC, 205, PKG_REPLY, 77, 0xFFFFFFFF,
                                                                         2**64 - 3)
        assert (body_size, ext_size) == (2, 3)
        assert reply[36:39] == b"\x01\x02\x03" and reply[39:] == b"{}"
        assert decode_packet(reply, 1024) == Frame(205, PKG_REPLY, 77, 0xFFFFFFFF, 2**64 - 3, b"\x01\x02\x03",
                                                   b"{}")

    @pytest.mark.parametrize("req_id", [-1, -2, -1234, -(2**63), 2**63 - 1, 0])
    def test_negative_req_id_round_trip(self, req_id: int) -> None:
        data = encode_frame(101, PKG_REQUEST, 9, req_id, b"[]")
        assert data[22:30] == (req_id & (2**64 - 1)).to_bytes(8, "little")
        (frame,) = FrameDecoder(1024).feed(data)
        assert frame.req_id == req_id & (2**64 - 1)
        assert frame.signed_req_id == req_id

    def test_minus_one_is_all_ones(self) -> None:
        assert encode_frame(1, 0, 1, -1)[22:30] == b"\xff" * 8

    def test_crc_covers_ext_and_body(self) -> None:
        data = encode_frame(3, 0, 4, 5, b"body", b"ext")
        zeroed = data[:14] + b"\0\0\0\0" + data[18:]
        assert struct.unpack_from("<I", data, 14)[0] == zlib.crc32(zeroed)
        assert data[36:] == b"extbody"

    def test_body_size_limit(self) -> None:
        assert MAX_BODY_SIZE == 2147418060

        class HugeBody(bytes):
            def __len__(self) -> int:
                return MAX_BODY_SIZE + 1

        with pytest.raises(ValueError):
            encode_frame(101, 0, 1, 1, HugeBody())


frame_strategy = st.builds(
    Frame,
    command=st.integers(0, 2**32 - 1),
    pkg_type=st.integers(0, 2),
    result=st.integers(0, 2**32 - 1),
    sequence=st.integers(0, 2**32 - 1),
    req_id=st.integers(0, 2**64 - 1),
    ext=st.binary(max_size=20),
    body=st.binary(max_size=300),
)


def encode(frame: Frame) -> bytes:
    return encode_frame(frame.command, frame.pkg_type, frame.sequence, frame.req_id, frame.body, frame.ext,
                        frame.result)


class TestDecoder:
    @settings(max_examples=300, deadline=None)
    @given(frames=st.lists(frame_strategy, max_size=8), data=st.data())
    def test_reassembly_across_arbitrary_splits(self, frames: list[Frame], data: st.DataObject) -> None:
        stream = b"".join(encode(f) for f in frames)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
        decoder = FrameDecoder(400)
        received: list[Frame] = []
        previous = 0
        for cut in [*cuts, len(stream)]:
            received.extend(decoder.feed(stream[previous:cut]))
            previous = cut
        assert received == frames
        assert decoder.buffered == 0

    def test_byte_by_byte(self) -> None:
        stream = EXAMPLE_FRAME + SMALL_FRAME + HEARTBEAT_REQUEST
        decoder = FrameDecoder(1024)
        received = [frame for i in range(len(stream)) for frame in decoder.feed(stream[i:i + 1])]
        assert [f.sequence for f in received] == [1, 7, 0]
        assert [f.body for f in received] == [EXAMPLE_BODY, b"[1]", heartbeat_body(3.0)]

    def test_accepts_bytearray_and_memoryview(self) -> None:
        decoder = FrameDecoder(1024)
        assert decoder.feed(bytearray(EXAMPLE_FRAME[:10])) == []
        (frame,) = decoder.feed(memoryview(EXAMPLE_FRAME)[10:])
        assert frame.body == EXAMPLE_BODY and type(frame.body) is bytes

    def test_bad_magic(self) -> None:
        with pytest.raises(ProtocolError, match="magic"):
            FrameDecoder(1024).feed(b"BEEP" + EXAMPLE_FRAME[4:])

    def test_bad_magic_detected_from_the_header_alone(self) -> None:
        decoder = FrameDecoder(1024)
        assert decoder.feed(b"xxxx" + EXAMPLE_FRAME[4:20]) == []
        with pytest.raises(ProtocolError):
            decoder.feed(EXAMPLE_FRAME[20:36])

    @pytest.mark.parametrize("offset", [4, 8, 10, 14, 18, 22, 37, 45])
    def test_bad_crc(self, offset: int) -> None:
        with pytest.raises(ProtocolError, match="crc"):
            FrameDecoder(1024).feed(corrupt(EXAMPLE_FRAME, offset))

    def test_frames_before_the_broken_one_are_reported(self) -> None:
        with pytest.raises(ProtocolError) as info:
            FrameDecoder(1024).feed(EXAMPLE_FRAME + SMALL_FRAME + corrupt(SMALL_FRAME, 38))
        assert [f.sequence for f in info.value.frames] == [1, 7]

    def test_oversized_frame_refused_from_its_header(self) -> None:
        header = HEADER.pack(MAGIC, 101, 0, 0, 0, 1, 1, 2000, 0)
        decoder = FrameDecoder(1024)
        assert decoder.feed(header[:35]) == []
        with pytest.raises(ProtocolError, match="max_pkg_size"):
            decoder.feed(header[35:])

    def test_size_limit_counts_header_ext_and_body(self) -> None:
        exact = encode_frame(101, 0, 1, 1, b"x" * 80, b"e" * 20)
        assert len(exact) == 136
        assert len(FrameDecoder(136).feed(exact)) == 1
        with pytest.raises(ProtocolError):
            FrameDecoder(135).feed(exact)

    def test_incomplete_frame_waits(self) -> None:
        decoder = FrameDecoder(1024)
        assert decoder.feed(EXAMPLE_FRAME[:-1]) == []
        assert decoder.buffered == 45
        assert len(decoder.feed(EXAMPLE_FRAME[-1:] + EXAMPLE_FRAME[:3])) == 1
        assert decoder.buffered == 3


class TestDecodePacket:
    def test_trailing_bytes_ignored(self) -> None:
        assert decode_packet(SMALL_FRAME + b"junk", 1024).body == b"[1]"

    @pytest.mark.parametrize("data", [SMALL_FRAME[:35], SMALL_FRAME[:-1], b""])
    def test_truncated(self, data: bytes) -> None:
        with pytest.raises(ProtocolError):
            decode_packet(data, 1024)

    def test_checks(self) -> None:
        with pytest.raises(ProtocolError, match="crc"):
            decode_packet(corrupt(SMALL_FRAME, 38), 1024)
        with pytest.raises(ProtocolError, match="magic"):
            decode_packet(b"xxxx" + SMALL_FRAME[4:], 1024)
        with pytest.raises(ProtocolError, match="max_pkg_size"):
            decode_packet(SMALL_FRAME, len(SMALL_FRAME) - 1)


class TestHeartbeatTlv:
    def test_empty_body_has_no_timeout(self) -> None:
        assert parse_heartbeat_body(b"") is None

    @pytest.mark.parametrize(("millis", "seconds"), [(3000, 3.0), (2500, 2.5), (1000, 2.0), (0, 2.0),
                                                     (600_000, 600.0), (10_000_000, 600.0),
                                                     (2**32 - 1, 600.0)])
    def test_timeout_clamped(self, millis: int, seconds: float) -> None:
        assert parse_heartbeat_body(tlv(1, struct.pack("<I", millis))) == seconds

    def test_unknown_types_skipped(self) -> None:
        body = tlv(9, b"abcdef") + tlv(1, struct.pack("<I", 5000)) + tlv(7, b"xy")
        assert parse_heartbeat_body(body) == 5.0

    def test_last_timeout_wins(self) -> None:
        body = tlv(1, struct.pack("<I", 5000)) + tlv(1, struct.pack("<I", 7000))
        assert parse_heartbeat_body(body) == 7.0

    @pytest.mark.parametrize("value", [b"", b"x"])
    def test_quirk_u16_needs_four_bytes(self, value: bytes) -> None:
        """A well-formed trailing TLV with a 0- or 1-byte value is refused, as ut_pack.c does."""
        with pytest.raises(ProtocolError):
            parse_heartbeat_body(tlv(1, struct.pack("<I", 3000)) + tlv(9, value))
        with pytest.raises(ProtocolError):
            parse_heartbeat_body(tlv(9, value))

    def test_two_byte_value_is_fine(self) -> None:
        assert parse_heartbeat_body(tlv(9, b"xy")) is None

    @pytest.mark.parametrize("body", [b"\x01", b"\x01\x00", b"\x01\x00\x04", tlv(1, struct.pack("<I", 3000)) + b"\0\0"])
    def test_truncated_fields(self, body: bytes) -> None:
        with pytest.raises(ProtocolError):
            parse_heartbeat_body(body)

    def test_value_longer_than_body(self) -> None:
        with pytest.raises(ProtocolError):
            parse_heartbeat_body(tlv(9, b"abcd", length=5))

    @pytest.mark.parametrize("value", [b"\xb8\x0b", b"\xb8\x0b\x00\x00\x00\x00"])
    def test_timeout_must_be_four_bytes(self, value: bytes) -> None:
        with pytest.raises(ProtocolError):
            parse_heartbeat_body(tlv(1, value))
