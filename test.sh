#!/usr/bin/env bash
# Run the test suite: creates .venv on first use, installs the project with its
# test extra, checks the code with ruff and mypy (the whole tree, as configured
# in pyproject.toml's [tool.mypy]), then runs pytest (extra args go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
