#!/usr/bin/env bash
# The seed's loop, end to end, on a copy of this example: init, link, sam build, edit, unlink.
# Needs samlink and sam on PATH (`make demo` sets that up).
set -euo pipefail
# When run from `make demo`, keep the outer make's flags away from the make SAM runs.
unset MAKELEVEL MAKEFLAGS MFLAGS
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/samlink-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -R "$here/." "$work/"
rm -rf "$work/.aws-sam" "$work/.samlink" "$work/hello_world/Makefile"
cd "$work"
python3 build_wheelhouse.py wheelhouse

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
call() {
  # `samlink invoke` runs the built function as Lambda lays it out (/var/task, awslambdaric),
  # in a sandbox when there is no Docker engine; --no-build proves nothing was rebuilt.
  samlink invoke HelloWorldFunction -e events/event.json --no-build 2>"$work/invoke.log" \
    | python3 -c 'import json, sys; print(json.loads(json.load(sys.stdin)["body"])["message"])' \
    || { cat "$work/invoke.log" >&2; exit 1; }
}

step "samlink init"
samlink init
step "samlink link ./sam-sync-test-upstream"
samlink link ./sam-sync-test-upstream
step "sam build"
sam build
echo "before edit: $(call)"

step "edit the upstream library (no rebuild)"
sed -i.bak 's/return f"hello/return f"HOWDY (edited)/' \
  sam-sync-test-upstream/src/sam_sync_test_upstream/__init__.py
echo "after edit (no rebuild): $(call)"

step "samlink unlink --all && sam build"
samlink unlink --all
sam build
echo "after unlink (pinned release): $(call)"
