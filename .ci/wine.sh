#!/usr/bin/env bash
# Runs the tests of every package built for windows/amd64 under Wine, in a
# fresh Wine prefix outside the repository, and fails unless every package
# that has tests ran them and passed: a test binary that never ran fails.
#
# Usage: bash .ci/wine.sh   (from anywhere; .ci/run calls it)
# The log goes to $WINE_LOG if set, else to a file under ${TMPDIR:-/tmp}
# that is kept only if the tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=${GOFLAGS:--buildvcs=false}

need=()
command -v wine >/dev/null || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64-win32)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/selectors-wine.XXXXXX")
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEARCH=win64
# Wine 8 has no bcryptprimitives.dll: use the shim built below.
export WINEDLLOVERRIDES="bcryptprimitives=n;${WINEDLLOVERRIDES:-}"
log=${WINE_LOG:-$work.log}
cleanup() {
  wineserver -k 2>/dev/null || true # this prefix's server and its services only
  rm -rf "$work"
}
trap cleanup EXIT

echo "wine: $(wine --version), prefix $WINEPREFIX"
start=$SECONDS
mkdir -p "$WINEPREFIX"
# A persistent server first: the services that wineboot starts then stay
# up, with their output in wineboot's log. Started later by a test binary,
# they would inherit its output, and go test would wait for them to close
# it.
wineserver -p </dev/null >/dev/null 2>&1
wineboot -i </dev/null >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log"; exit 1; }
wine cmd /c exit </dev/null >>"$work/wineboot.log" 2>&1 # and the desktop's

# Go 1.24 and later load ProcessPrng from bcryptprimitives.dll at start-up.
x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  .ci/bcryptprimitives.c -ladvapi32
echo "wine prefix ready in $((SECONDS - start))s"

# There is no Windows go command under Wine for the examples' tests to
# build the examples with: build them here (see examples/internal/echotest).
mkdir "$work/bin"
for cmd in echo-server echo-client; do
  GOOS=windows GOARCH=amd64 go build -o "$work/bin/$cmd.exe" "./examples/$cmd"
done
export ECHOTEST_BIN_DIR
ECHOTEST_BIN_DIR=$(winepath -w "$work/bin")

pkgs=$(GOOS=windows GOARCH=amd64 go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...)
status=0
# -p 1: one test binary at a time, its output as it comes, two cores spared.
GOOS=windows GOARCH=amd64 go test -exec wine -count=1 -v -p 1 ./... 2>&1 | tee "$log" || status=$?

# Every package with tests must have its "ok" line and passing tests, and
# nothing may have failed; go test's own status is checked last.
echo
echo "=== Wine results (log: $log, $((SECONDS - start))s)"
bad=0
if grep -Eq '^(\s*--- FAIL|FAIL\b|panic:|\*\*\* Test I/O incomplete)' "$log"; then
  grep -E '^(\s*--- FAIL|FAIL\b|panic:|\*\*\* Test I/O incomplete)' "$log"
  bad=1
fi
for pkg in $pkgs; do
  # The package's section: from the end of the previous package's result
  # line to its own.
  counts=$(awk -v pkg="$pkg" '
    /^(ok|FAIL|\?) *\t/ {
      if ($2 == pkg) { found = ($1 == "ok"); print top, nsub, skip, found; exit }
      top = nsub = skip = 0; next
    }
    /^--- PASS/ { top++ }
    /^ +--- PASS/ { nsub++ }
    /^ *--- SKIP/ { skip++ }
  ' "$log")
  read -r top nsub skip ok <<<"${counts:-0 0 0 0}"
  printf '%-60s %4d passed (+%d subtests), %d skipped\n' "$pkg" "$top" "$nsub" "$skip"
  if [ "$ok" != 1 ] || [ "$top" -eq 0 ]; then
    echo "  $pkg: no \"ok\" line or no passing test under Wine"
    bad=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "go test exited with status $status"
  bad=1
fi
[ "$bad" -eq 0 ] || { echo "FAIL: tests under Wine (log: $log)"; exit 1; }
[ -n "${WINE_LOG:-}" ] || rm -f "$log"
echo "PASS: tests under Wine"
