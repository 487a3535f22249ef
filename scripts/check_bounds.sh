#!/usr/bin/env bash
# Are the dependency bounds in pyproject.toml true? Runs the whole test suite (ruff + pytest) in a fresh
# venv per case:
#   lowest  every declared lower bound installed together (each `name>=X` of the dependencies and of
#           the dev extra pinned to `name==X`; what they pull in resolves as pip chooses)
#   newest  the newest releases allowed
# on each Python asked for (default: 3.11 3.12 3.13, those pyenv or PATH has).
#
#   scripts/check_bounds.sh                      # lowest and newest on every Python found
#   scripts/check_bounds.sh lowest 3.11          # one case
#
# Prints one line per case (`bounds: <case> python <version>: passed|FAILED ...`) and exits non-zero
# if any case failed. Logs go to build/bounds/<case>-<python>.log. Takes 5-8 minutes a case on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CASES=${1:-both}
shift || true
PYTHONS=("$@")
[ ${#PYTHONS[@]} -eq 0 ] && PYTHONS=(3.11 3.12 3.13)
[ "$CASES" = both ] && CASES="lowest newest"
OUT=$ROOT/build/bounds
mkdir -p "$OUT"
# The suite runs on a snapshot of the working tree (tracked and untracked files, not ignored ones), so
# editing while it runs changes nothing under it.
SRC=$OUT/src
rm -rf "$SRC" && mkdir -p "$SRC"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$SRC" 2>/dev/null
cd "$SRC"

find_python() {  # a python3.X from pyenv or PATH
  local v=$1 p
  for p in "$HOME/.pyenv/versions/$v"*/bin/python"$v" "$(command -v "python$v" 2>/dev/null)"; do
    if [ -x "$p" ] && "$p" -c 'import sys' 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

lower_bounds() {  # name==X for every `name>=X` (whose marker holds on this Python) in the
                  # dependencies, the dev extra and the extras it pulls in
  "$1" - "$SRC/pyproject.toml" <<'PY'
import sys, tomllib
from pip._vendor.packaging.requirements import Requirement
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = project["optional-dependencies"]
for req in project["dependencies"] + extras["dev"] + extras["onnx"] + extras["tensorboard"] + extras["ray"]:
    r = Requirement(req)
    if r.marker is not None and not r.marker.evaluate():
        continue
    for spec in r.specifier:
        if spec.operator == ">=":
            print(f"{r.name}=={spec.version}")
PY
}

status=0
for case in $CASES; do
  for v in "${PYTHONS[@]}"; do
    py=$(find_python "$v") || { echo "bounds: $case python $v: not installed here, skipped"; continue; }
    venv=$OUT/venv-$case-$v
    log=$OUT/$case-$v.log
    rm -rf "$venv"
    "$py" -m venv "$venv"
    {
      "$venv/bin/python" -m pip install -q --upgrade pip
      if [ "$case" = lowest ]; then
        lower_bounds "$venv/bin/python" > "$OUT/constraints-$v.txt"
        "$venv/bin/python" -m pip install -q -c "$OUT/constraints-$v.txt" -e ".[dev]"
      else
        "$venv/bin/python" -m pip install -q --upgrade --upgrade-strategy eager -e ".[dev]"
      fi
    } > "$log" 2>&1 || { echo "bounds: $case python $v: FAILED to install (see $log)"; status=1; continue; }
    versions=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null \
      | grep -iE '^(numpy|fastapi|starlette|uvicorn|pydantic|pydantic-settings|websockets|pillow|python-multipart|prometheus.client|httpx|pytest|playwright|onnx|onnxruntime|tensorboard|tensorboardx|protobuf)==' \
      | tr '\n' ' ')
    if { "$venv/bin/ruff" check backend tests bench setup.py \
        && "$venv/bin/ruff" format --check backend tests bench setup.py \
        && PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider; } >> "$log" 2>&1; then
      echo "bounds: $case python $v: passed — $(tail -1 "$log" | sed 's/=//g;s/^ *//') — $versions"
    else
      echo "bounds: $case python $v: FAILED — $(tail -1 "$log") — $versions (see $log)"
      status=1
    fi
  done
done
exit $status
