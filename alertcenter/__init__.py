"""alertcenter: receives FATAL alerts over UDP/TCP and appends them to the Redis list `alert:message`.

Modules: `framing` (lines, magic, validation), `server` (the listeners),
`writer` (the queue in front of Redis), `config`, `__main__`
(spec/alertcenter.md).

Deviations from the original, each for a reason:
  * every line of a datagram is a message, not only the first one, and the
    unterminated last piece of a datagram (an alert its sender cut at 10240
    bytes) is a message too; the original pushed only the first line and
    mishandled a datagram without newline (memory-unsafe);
  * on TCP, a valid unterminated line left when the peer closes is kept;
  * messages are appended by one background task over a kept connection,
    in batches, from a bounded in-memory queue (10000 by default, the oldest
    dropped when full) and retried while Redis is down; the original opened
    a connection per message on the event loop and lost the message on any
    Redis error.  Delivery is at least once;
  * optional config `redis_key` (default "alert:message") and `queue_limit`;
    `redis` may also name a plain server (`host`/`port` or `url`);
  * the lock file is `alertcenter.lock` and the banner says `alertcenter`
    (the original: `alertcenter.exe.lock` and, by a copy-paste slip,
    `blockmaster`), like every other daemon of the port.
As in the original only `log.path` and `log.flag` are honoured (daily
rotation, 100 MiB, 10 files, 7 days), and alertcenter sends no alerts itself.
"""
