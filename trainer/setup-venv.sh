#!/usr/bin/env bash
# Create (or reuse) the trainer's Python venv and print its python path as the last stdout line.
#
# The venv lives outside the repo, keyed by the hash of requirements.txt:
#   ${CAPTIONFLOW_CACHE:-$HOME/.cache/captionflow}/venv-<sha256 of requirements.txt, 16 hex>
# so every clone (and CI's fresh clone) shares it, and changing requirements.txt builds a new
# one. A cached venv is reused in well under a second. Concurrent callers are serialised with
# flock; a venv counts as built only once its `.complete` marker exists, so an interrupted
# build is thrown away and redone. Everything but the final path goes to stderr.
#
# Env: CAPTIONFLOW_CACHE (cache root), CAPTIONFLOW_PYTHON (interpreter, default python3; must be 3.11).
#
# Other pinned Python tools reuse it: `setup-venv.sh <requirements file> <import check>` builds
# the venv of that file instead (the tests' schemathesis: tests/fixtures/schemathesis.ts).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="${1:-$here/requirements.txt}"
check="${2:-import jax, flax, optax, onnx, onnxruntime, PIL, pycocoevalcap}"
cache="${CAPTIONFLOW_CACHE:-$HOME/.cache/captionflow}"
python="${CAPTIONFLOW_PYTHON:-python3}"
sha="$(sha256sum "$req" | cut -c1-16)"
venv="$cache/venv-$sha"

if [[ -f "$venv/.complete" && -x "$venv/bin/python" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/venv-$sha.lock"
flock 9
# Another caller may have finished the build while we waited for the lock.
if [[ -f "$venv/.complete" && -x "$venv/bin/python" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$version" != "3.11" ]]; then
  echo "setup-venv: $python is Python $version; the pinned wheels in requirements.txt need 3.11 (set CAPTIONFLOW_PYTHON)" >&2
  exit 2
fi

start=$(date +%s)
echo "setup-venv: building $venv with $("$python" --version 2>&1)" >&2
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet --only-binary=:all: -r "$req" >&2
"$venv/bin/python" -c "$check" >&2
touch "$venv/.complete"
echo "setup-venv: built in $(( $(date +%s) - start ))s ($(du -sh "$venv" | cut -f1))" >&2
echo "$venv/bin/python"
