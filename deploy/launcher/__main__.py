"""`python -m deploy.launcher [run|demo] [--data DIR] [--port-offset N] [--standby]`.

    run   (the default) start the whole exchange with embedded defaults and keep
          it running until Ctrl-C / SIGTERM; the next run resumes from the
          saved state in the data directory
    demo  against a running launcher: fund two users, trade, show the result
          through HTTP and a websocket; with --trade, keep trading (about
          --rate trades a second) until Ctrl-C, for the market page to show
"""

from __future__ import annotations

import argparse
import sys

from . import configs, trader
from .layout import ORIGINAL_PORTS, STANDBY_PORTS, DataDir, Ports


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.launcher",
                                     description="Run the whole exchange on this machine, or show a demo trade.")
    parser.add_argument("command", nargs="?", choices=("run", "demo"), default="run")
    parser.add_argument("--data", default="data", help="data directory (default ./data)")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="add N to every daemon port (HTTP 8080+N, websocket 8090+N, ...)")
    parser.add_argument("--standby", action="store_true",
                        help="run a second matchengine as the hot standby of the first (docs/failover.md)")
    parser.add_argument("--auth-url", default=None,
                        help="accessws auth_url (server.auth); default: the launcher's demo endpoint, where the "
                             "token demo:<user id> names the user (and the market page's demo panel is on)")
    parser.add_argument("--sign-url", default=configs.DEFAULT_SIGN_URL, help="accessws sign_url (server.sign)")
    parser.add_argument("--trade", action="store_true", help="demo: keep trading until Ctrl-C")
    parser.add_argument("--rate", type=float, default=trader.DEFAULT_RATE,
                        help=f"demo --trade: about N trades a second (default {trader.DEFAULT_RATE:g})")
    parser.add_argument("--market", action="append", default=[],
                        help="demo --trade: trade on this market only (may be repeated; default: every market)")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= trader.MAX_RATE:
        parser.error(f"--rate must be above 0 and at most {trader.MAX_RATE}")
    highest = max(*ORIGINAL_PORTS.values(), *STANDBY_PORTS.values()) + args.port_offset
    lowest = min(ORIGINAL_PORTS.values()) + args.port_offset
    if lowest < 1 or highest > 65535:
        parser.error(f"--port-offset {args.port_offset} moves the ports out of 1..65535")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = DataDir.at(args.data)
    if args.command == "demo":
        from .demo import demo

        return demo(data, trade=args.trade, rate=args.rate, markets=args.market)
    from .run import Launcher

    return Launcher(data, Ports(args.port_offset, args.standby), auth_url=args.auth_url,
                    sign_url=args.sign_url).run()


if __name__ == "__main__":
    sys.exit(main())
