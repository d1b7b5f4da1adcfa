#!/usr/bin/env bash
# Conformance of the Huawei Cloud simulator with the OFFICIAL Huawei Cloud Python SDKs.
#
# Creates (once, then reused) a venv keyed by a hash of tests/sdk/requirements.lock under
# ${APPAUTH_CACHE:-$HOME/.cache/appauth-operator}/venv-<hash>, installs exactly the locked SDKs,
# pytest and their dependencies from PyPI (every file checked against its hash in the lock),
# then runs `pytest -q tests/sdk` from the repo root against the simulator
# binary named by HWCLOUD_SIM_BIN (default target/debug/hwcloud-sim; the caller builds it with
# `cargo build -p hwcloud-sim` first).
#
# Usage:
#   sdk-tests.sh [PYTEST ARGS...]   run the suite (extra args go to pytest)
#   sdk-tests.sh --python           only ensure the venv and print its python's absolute path
#                                   (used by Rust tests that run tests/sdk/sdk_sign.py)
#
# Exit status: pytest's, except that "no tests collected" (pytest exit 5) is a failure too.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REQ="$ROOT/tests/sdk/requirements.lock"
CACHE_ROOT=${APPAUTH_CACHE:-$HOME/.cache/appauth-operator}
PYTHON_BOOT=${PYTHON:-python3}
log() { echo "sdk-tests: $*" >&2; }

[ -f "$REQ" ] || { log "missing $REQ"; exit 1; }
HASH=$( (cat "$REQ"; "$PYTHON_BOOT" -c 'import sys; print(sys.version_info[:2])') | sha256sum | cut -c1-16)
VENV="$CACHE_ROOT/venv-$HASH"
PY="$VENV/bin/python"

ensure_venv() {
  if [ -f "$VENV/.done" ] && [ -x "$PY" ]; then return 0; fi
  mkdir -p "$CACHE_ROOT"
  # Build in a temporary directory and rename into place, so that a half-made venv (an
  # interrupted pip) is never taken for a finished one and parallel callers do not collide.
  local tmp="$CACHE_ROOT/.venv-$HASH.tmp.$$"
  rm -rf "$tmp"
  log "creating venv $VENV (from $REQ)"
  "$PYTHON_BOOT" -m venv "$tmp" >&2
  # --require-hashes: a dependency missing from the lock, or a file whose hash differs, fails
  # the install instead of resolving something new. The venv's own pip is used as it comes (no
  # upgrade: that would resolve the newest pip at build time).
  "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r "$REQ" >&2
  touch "$tmp/.done"
  # venvs record their absolute path in scripts; python -m works regardless, and we only use
  # "$VENV/bin/python -m ...". Rename; if another caller won the race, keep theirs.
  if ! mv -T "$tmp" "$VENV" 2>/dev/null; then rm -rf "$tmp"; fi
  [ -x "$PY" ] || { log "venv creation failed"; exit 1; }
  # The venv's bin/python is a symlink to the base interpreter, so it works after the rename;
  # make sure the site-packages are found from the new location.
  "$PY" -c 'import huaweicloudsdkcore, huaweicloudsdkapig, huaweicloudsdkroma, huaweicloudsdkdataartsstudio, huaweicloudsdkiam, pytest, requests' >&2
}

ensure_venv

if [ "${1:-}" = "--python" ]; then
  echo "$PY"
  exit 0
fi

cd "$ROOT"
export HWCLOUD_SIM_BIN=${HWCLOUD_SIM_BIN:-target/debug/hwcloud-sim}
# Never let the SDK or requests reach anything but the loopback simulator.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy || true
export PYTHONDONTWRITEBYTECODE=1
set +e
"$PY" -m pytest -q -p no:cacheprovider tests/sdk "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  log "pytest collected no tests: counted as a failure"
  exit 1
fi
exit $rc
