#!/usr/bin/env bash
# For cron: start marketprice again (through restart.sh) when no process holds its lock file
# ${VIABTC_LOCK_DIR:-/tmp}/marketprice.lock.  Silent while it runs.
#
#   * * * * * /path/to/marketprice/shell/check_alive.sh >>/var/log/trade/check_alive.log 2>&1
#
# Arguments are passed on to restart.sh ([config.json]).
set -u

NAME=marketprice
SHELL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCK_DIR=${VIABTC_LOCK_DIR:-/tmp}
LOCK=$LOCK_DIR/$NAME.lock
mkdir -p "$LOCK_DIR"

flock --nonblock --conflict-exit-code 75 "$LOCK" true
case $? in
    0) ;;
    75) exit 0 ;;
    *) echo "$NAME: cannot use the lock file $LOCK" >&2; exit 1 ;;
esac
echo "$(date '+%Y-%m-%d %H:%M:%S') $NAME: not running, starting it"
exec "$SHELL_DIR/restart.sh" "$@"
