#!/usr/bin/env bash
# The project's front door: sets up a virtualenv in .venv on first use, then runs.
#
#   ./lab.sh run [ARGS]    the bot when DISCORD_TOKEN is set (environment or .env), otherwise
#                          the offline playground on the offline Gemma model; ARGS go to labbot
#   ./lab.sh test [ARGS]   lint, format check, type check, then the tests (ARGS go to pytest)
#   ./lab.sh check         only the lint, format and type checks
#   ./lab.sh setup [EXTRAS] only the set-up (default extras: offline,test)
#
# Set-up is skipped while pyproject.toml is unchanged since the last one. Torch: a machine with
# an NVIDIA driver (nvidia-smi) gets PyPI's default CUDA build; other Linux machines get the
# small CPU build; macOS gets PyPI's build (CPU and Apple GPU). LABBOT_TORCH replaces the
# choice, for example LABBOT_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu".
set -euo pipefail
cd "$(dirname "$0")"

TORCH_VERSION=2.13.0
VENV=.venv

die() { echo "lab.sh: $*" >&2; exit 2; }

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    die "needs Python 3.11 or newer (python3 --version shows yours; set PYTHON=/path/to/python)"
}

torch_spec() {
    if [ -n "${LABBOT_TORCH:-}" ]; then
        echo "$LABBOT_TORCH"
    elif command -v nvidia-smi >/dev/null 2>&1 || [ "$(uname -s)" = Darwin ]; then
        echo "torch==$TORCH_VERSION"
    else
        echo "torch==$TORCH_VERSION --index-url https://download.pytorch.org/whl/cpu"
    fi
}

# setup EXTRAS: the virtualenv with torch and the project's EXTRAS (for example "test").
setup() {
    local extras=$1 stamp="$VENV/.lab-setup-$1" want
    want="$(cksum < pyproject.toml) [$extras] $(torch_spec)"
    if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then
        return
    fi
    if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
    then  # missing, broken (its Python moved or removed) or made with an older Python
        echo "lab.sh: creating $VENV" >&2
        "$(find_python)" -m venv --clear "$VENV"
    fi
    local pip=("$VENV/bin/python" -m pip --quiet)
    "${pip[@]}" install --upgrade pip
    if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
        echo "lab.sh: installing $(torch_spec)" >&2
        # shellcheck disable=SC2046  # the spec is a requirement and its pip options
        "${pip[@]}" install $(torch_spec)
    fi
    echo "lab.sh: installing the project [$extras]" >&2
    "${pip[@]}" install -e ".[$extras]"
    echo "$want" > "$stamp"
}

has_token() {
    [ -n "${DISCORD_TOKEN:-}" ] && return 0
    [ -f .env ] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?DISCORD_TOKEN=.+' .env
}

checks() {
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
    run)
        setup offline,test
        if has_token; then
            exec "$VENV/bin/labbot" run "$@"
        fi
        echo "lab.sh: no DISCORD_TOKEN, so here is the offline playground" \
            "(README.md: Creating the Discord application)" >&2
        if [ -z "${LABBOT_MODEL:-}" ] && [[ " $* " != *" --model"* ]]; then
            set -- --model gemma-offline "$@"
        fi
        exec "$VENV/bin/labbot" playground "$@"
        ;;
    test)
        setup test,serve
        checks
        exec "$VENV/bin/python" -m pytest -q "$@"
        ;;
    check)
        setup test,serve
        checks
        ;;
    setup)
        setup "${1:-offline,test}"
        ;;
    *)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
