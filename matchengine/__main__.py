"""matchengine: `python -m matchengine config.json [--daemon]`.

Start-up, in order (matchengine.node): open the `trade_log` database and check
the lease row; restore the state from the newest slice and the operation log
after it (an asset or market the config file defines with another precision
than they do stops the start); with role "standby", follow the log until the
lease is free; take the lease, apply what was committed up to then, write the
assets and markets added live back to the config source if it lacks them,
start the operation-log writer, the history/message publisher and the RPC
server.  The debug CLI
serves from the start.  Stopping reverses it: no new requests, every logged
operation committed, the publisher drained, the lease freed for a standby,
databases closed.
"""

from __future__ import annotations

from common.service import run_service

from .config import load_config
from .node import serve


def main() -> None:
    run_service("matchengine", load_config, serve)


if __name__ == "__main__":
    main()
