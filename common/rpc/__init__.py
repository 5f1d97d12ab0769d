"""The internal binary RPC protocol between the gateways and the backends (spec/rpc.md).

`codec` builds and parses frames, `server` is the backends' listener and
`client` the gateways' multiplexing connection.
"""

from common.rpc.client import HEARTBEAT_INTERVAL, RpcClient, RpcTimeout, RpcUnavailable
from common.rpc.codec import (
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_BODY_SIZE,
    PKG_PUSH,
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
from common.rpc.server import HEARTBEAT_CHECK_INTERVAL, Handler, PendingReply, RpcServer

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "HEARTBEAT_CHECK_INTERVAL",
    "HEARTBEAT_INTERVAL",
    "MAGIC",
    "MAX_BODY_SIZE",
    "PKG_PUSH",
    "PKG_REPLY",
    "PKG_REQUEST",
    "Frame",
    "FrameDecoder",
    "Handler",
    "PendingReply",
    "ProtocolError",
    "RpcClient",
    "RpcServer",
    "RpcTimeout",
    "RpcUnavailable",
    "decode_packet",
    "encode_frame",
    "encode_heartbeat_reply",
    "encode_heartbeat_request",
    "encode_reply",
    "heartbeat_body",
    "parse_heartbeat_body",
]
