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
  # The handler as Lambda loads it: the build dir first on sys.path, and a site dir (.pth files).
  python3 -c '
import json, site, sys
build = sys.argv[1]
sys.path.insert(0, build)
site.addsitedir(build)
import app
print(json.loads(app.lambda_handler({}, None)["body"])["message"])
' .aws-sam/build/HelloWorldFunction
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
