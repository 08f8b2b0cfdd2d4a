#!/usr/bin/env bash
# vitrify's two entry points on a fresh machine (python3 >= 3.11 and git, nothing else):
#   ./dev.sh run   [campaign options]  - run the main job: a replay discovery campaign on embedded defaults
#   ./dev.sh test  [pytest options]    - run the test suite (SQLite and a real PostgreSQL, local Ray, Prefect)
# Each creates or reuses the project's virtual environment (.venv) and installs what it needs,
# pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VITRIFY_VENV:-.venv}"
PY="$VENV/bin/python"

ensure_venv() {
  if [ ! -x "$PY" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      # Debian's python3 ships without ensurepip; python3-venv provides it.
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing python3-venv (Debian) ..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"; python3 -m venv "$VENV"
      else
        echo "python3 -m venv failed: install your distribution's python3-venv package" >&2; exit 1
      fi
    fi
  fi
  local want have=""
  want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
  [ -f "$VENV/.installed" ] && have="$(cat "$VENV/.installed")"
  if [ "$want" != "$have" ]; then
    echo "installing vitrify and its dependencies into $VENV (pinned by constraints.txt) ..."
    "$PY" -m pip install -q --disable-pip-version-check uv
    "$VENV/bin/uv" pip install -q --python "$PY" -c constraints.txt -e ".[test]"
    echo "$want" > "$VENV/.installed"
  fi
}

ensure_browser() {
  # The intake web-page tests drive Debian's headless chromium (never a downloaded browser build).
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests ..."
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then return 0; fi
    echo "could not install chromium: the browser tests will be skipped" >&2
  else
    echo "/usr/bin/chromium is missing (install your distribution's chromium as root): the browser tests will be skipped" >&2
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  run)
    ensure_venv
    exec "$VENV/bin/vitrify" campaign run "$@" ;;
  test)
    ensure_venv
    ensure_browser
    exec "$PY" -m pytest "$@" ;;
  *)
    echo "usage: ./dev.sh run [campaign options] | ./dev.sh test [pytest options]" >&2; exit 2 ;;
esac
