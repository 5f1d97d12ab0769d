#!/usr/bin/env bash
# Restart __NAME__: stop the running copy gracefully, wait until it is gone, start it again as a daemon.
#
#   shell/restart.sh [config.json]      (default: ../conf/config.json beside this directory)
#
# Stop: SIGQUIT to every process holding the lock file ${VIABTC_LOCK_DIR:-/tmp}/__NAME__.lock
# (the watchdog and its worker), then wait until the lock is free, up to $VIABTC_STOP_TIMEOUT
# seconds (default 300): a graceful stop may take a while (the matchengine commits its log and
# drains history and Kafka), and the original's fixed `sleep 1` made the relaunch fail with
# "process exist".
# Start: `python -m __NAME__ config.json --daemon` from the module directory (relative paths in the
# config are relative to it), output appended to log/__NAME__.out; then wait up to
# $VIABTC_START_TIMEOUT seconds (default 60) for "server start".  Exit status 0 when it runs, 1 otherwise.
# $VIABTC_PYTHON names the interpreter (default: the repository's .venv, else python3).
set -u

NAME=__NAME__
SHELL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODULE_DIR=$(dirname "$SHELL_DIR")
CONFIG=$(realpath -m "${1:-$MODULE_DIR/conf/config.json}")
LOCK_DIR=$(realpath -m "${VIABTC_LOCK_DIR:-/tmp}")
LOCK=$LOCK_DIR/$NAME.lock
STOP_TIMEOUT=${VIABTC_STOP_TIMEOUT:-300}
START_TIMEOUT=${VIABTC_START_TIMEOUT:-60}
OUTPUT=$MODULE_DIR/log/$NAME.out
mkdir -p "$LOCK_DIR" "$MODULE_DIR/log"

if [ -n "${VIABTC_PYTHON:-}" ]; then
    PYTHON=$VIABTC_PYTHON
elif [ -x "$MODULE_DIR/../../.venv/bin/python" ]; then
    PYTHON=$MODULE_DIR/../../.venv/bin/python
else
    PYTHON=python3
fi

lock_is_free() {  # 0 free, 1 held; anything else (the lock file cannot be opened) stops the script
    flock --nonblock --conflict-exit-code 75 "$LOCK" true
    case $? in
        0) return 0 ;;
        75) return 1 ;;
        *) echo "$NAME: cannot use the lock file $LOCK" >&2; exit 1 ;;
    esac
}

lock_holders() {
    find /proc/[0-9]*/fd -maxdepth 1 -lname "$LOCK" 2>/dev/null | cut -d/ -f3 | sort -nu
}

server_starts() {
    local count
    count=$(grep -c "server start" "$OUTPUT" 2>/dev/null)
    echo "${count:-0}"
}

if ! lock_is_free; then
    holders=$(lock_holders)
    echo "$NAME: stopping ($(echo $holders))"
    [ -n "$holders" ] && kill -QUIT $holders 2>/dev/null
    deadline=$((SECONDS + STOP_TIMEOUT))
    until lock_is_free; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$NAME: still running after ${STOP_TIMEOUT} s (pids: $(echo $(lock_holders))); not restarted" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$NAME: stopped"
fi

before=$(server_starts)
cd "$MODULE_DIR" || exit 1
if ! "$PYTHON" -m "$NAME" "$CONFIG" --daemon </dev/null >>"$OUTPUT" 2>&1; then
    echo "$NAME: cannot start; the end of $OUTPUT:" >&2
    tail -n 5 "$OUTPUT" >&2
    exit 1
fi
deadline=$((SECONDS + START_TIMEOUT))
while [ "$(server_starts)" -le "$before" ]; do
    if lock_is_free; then
        echo "$NAME: exited while starting; the end of $OUTPUT:" >&2
        tail -n 5 "$OUTPUT" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "$NAME: launched, not serving yet after ${START_TIMEOUT} s (see $OUTPUT)"
        exit 0
    fi
    sleep 0.1
done
echo "$NAME: started (pids: $(echo $(lock_holders)))"
