#!/usr/bin/env bash
# Sets up the virtual environment and, when run as root, the system packages kateval needs:
# bubblewrap (the code sandbox), Debian's python3 with numpy (the sandboxed interpreter) and chromium
# (the test that renders report.html headless).
set -euo pipefail
venv=${1:-.venv}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in bubblewrap python3-numpy chromium; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
else
  echo "install.sh: not root; install bubblewrap and python3-numpy (code-sandbox isolation) and chromium (report test) yourself" >&2
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[test]'
