#!/bin/bash
# test.sh - the whole test suite from a bare Debian 12 machine: install what
# the tests need (tools/setup.sh --test), build with warnings as errors, build
# again with AddressSanitizer + UndefinedBehaviorSanitizer, run every test in
# the first build and the unit tests in the sanitizer build. Ends with the line
# "N passed, N failed" (skipped tests are listed loudly and not counted as passed).
#
#   tools/test.sh                 everything
#   tools/test.sh --suite unit    one meson suite (unit, e2e, ...) in both builds
#   tools/test.sh --quick         everything but suite `slow` (the multi-node
#                                 crash scenarios, a few minutes; .ci/run runs them)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tools/setup.sh --test || { echo "0 passed, 1 failed (set-up failed)"; exit 1; }

configure() {  # dir, options...
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --werror "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" >/dev/null || { ninja -C "$dir" 2>&1 | tail -40; return 1; }
}

suite_args=()
[ "${1:-}" = "--suite" ] && suite_args=(--suite "$2")
quick_args=()
[ "${1:-}" = "--quick" ] && quick_args=(--no-suite slow)

results=()
builds_failed=0
if configure build-test; then
    meson test -C build-test --print-errorlogs --no-rebuild "${suite_args[@]}" "${quick_args[@]}" || true
    results+=(build-test/meson-logs/testlog.json)
else
    echo "build failed (warnings are errors)"; builds_failed=$((builds_failed + 1))
fi
# ASan's leak checker cannot run under ptrace-less containers reliably; leaks
# are not what this build is for. UBSan findings abort the test.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
    if [ ${#suite_args[@]} -eq 0 ] || [ "${suite_args[1]}" = unit ]; then
        meson test -C build-asan --print-errorlogs --no-rebuild --suite unit || true
        results+=(build-asan/meson-logs/testlog.json)
    fi
else
    echo "sanitizer build failed"; builds_failed=$((builds_failed + 1))
fi

/usr/bin/python3 - "$builds_failed" "${results[@]}" <<'PY'
import json, sys
passed = failed = 0
builds_failed = int(sys.argv[1])
skipped, bad = [], []
for path in sys.argv[2:]:
    build = path.split("/")[0]
    for line in open(path):
        t = json.loads(line)
        name = f"{build}: {t['name']}"
        if t["result"] == "OK":
            passed += 1
        elif t["result"] == "SKIP":
            skipped.append(name)
        else:
            failed += 1
            bad.append(f"{name} ({t['result']})")
for name in bad:
    print(f"FAILED  {name}")
if skipped:
    print("*" * 72)
    for name in skipped:
        print(f"SKIPPED (not passed!)  {name}")
    print("*" * 72)
if builds_failed:
    failed += builds_failed
    print(f"FAILED  {builds_failed} build(s) (see above)")
print(f"{passed} passed, {failed} failed" + (f", {len(skipped)} skipped" if skipped else ""))
sys.exit(1 if failed or passed == 0 else 0)
PY
