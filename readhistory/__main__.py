"""readhistory: `python -m readhistory config.json [--daemon]`.

Opens the `trade_history` database (a pool of `worker_num` MySQL connections,
or the SQLite file of the embedded default; one pool per server when the
shards are spread over several), then serves the history queries
over RPC until stopped.  It writes nothing and keeps no state, so several
instances may serve the same database.
"""

from __future__ import annotations

from common.monitor import Readiness, start_monitor
from common.rpc import RpcServer
from common.service import ServiceContext, run_service
from common.storage import Database, open_database

from .config import ReadHistoryConfig, load_config
from .server import HistoryService


async def serve(config: ReadHistoryConfig, ctx: ServiceContext) -> None:
    dbs = [open_database(database, pool_size=config.worker_num, autocreate=False)
           for database in config.db_history.databases]
    await start_monitor(config.monitor, ctx, history_readiness(dbs))
    for db in dbs:
        await db.start()
        ctx.add_cleanup(db.close)
    service = HistoryService(dbs, config.worker_num, config.db_history.server_of)
    ctx.add_cleanup(service.close)
    rpc = RpcServer(config.svr, service.handlers(), debug=config.debug, name="readhistory")
    await rpc.start()
    ctx.add_cleanup(rpc.close)
    ctx.ready()
    await ctx.stopping.wait()


def history_readiness(dbs: list[Database]) -> Readiness:
    """Ready when every history server answers ``SELECT 1``."""
    ready = Readiness()
    for index, db in enumerate(dbs):
        async def answers(db: Database = db) -> bool:
            await db.fetchall("SELECT 1")
            return True

        ready.add("mysql" if len(dbs) == 1 else f"mysql{index}", answers)
    return ready


def main() -> None:
    run_service("readhistory", load_config, serve)


if __name__ == "__main__":
    main()
