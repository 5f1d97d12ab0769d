"""readhistory: the read-only RPC service over the sharded `trade_history` tables (spec/readhistory.md).

Commands 103 (balance history), 208 (finished orders), 209 (deals of an
order), 210 (one finished order), 306 (a user's deals in a market) and,
beyond the original, 215 (a user's fired stop orders, spec/extensions.md
§1.6), each one parameterised SQL statement on the shard `key % 100`.  Modules:
`params` (parameter reading), `queries` (checks and SQL per command),
`records` (rows to JSON records), `server` (admission control and execution),
`config`, `__main__`.

Deviations from the original, each for a reason:
  * values are passed as SQL parameters, never pasted into the statement
    (spec/README.md rule 3);
  * an unknown command gets error 4 and a body that is not a JSON array
    error 1, instead of silence and a closed connection (common.rpc, rule 2);
  * a string parameter holding U+0000 gets error 1 (the original's JSON
    parser refused the whole body and closed the connection);
  * a statement that fails because its MySQL connection was lost is run once
    more on a fresh connection (the C client reconnected by itself);
  * the SQL offset is capped at 2^63 - 1 (SQLite's limit; both select
    nothing), while the reply still echoes the offset as the original does
    (a negative offset is echoed unchanged);
  * the embedded default reads a SQLite file instead of MySQL.
Integer parameters must be JSON integers: where the original silently read a
non-integer as 0, the port answers "invalid argument" (spec/README.md rule 2).
"""
