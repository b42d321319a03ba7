#!/bin/sh
# valgrind memcheck over the C unit tests and a few Lua scripts that drive the core
# (tests/valgrind_client.lua: http/crypto/sys and the client against a sandbox;
# tests/valgrind_inputs.lua: CSV/XLSX/JSON readers over tests/data/bad, validate and
# encode). Any memory error or definite/indirect leak fails. One-time allocations of
# libcurl/OpenSSL/lua5.4 that are still reachable at exit are not errors; the few
# reported otherwise are in tests/valgrind.supp.
#   usage: tests/valgrind.sh BUILD_DIR      (a build without sanitizers: `build`)
# Prints "valgrind: N passed, N failed" and fails if anything failed.
build=${1:-build}
cd "$(dirname "$0")/.." || exit 2
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind: not installed (apt-get install valgrind)"; exit 2
fi
[ -f "$build/kiva/core.so" ] || make all >/dev/null || exit 2
make ctest >/dev/null || exit 2

vg="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --suppressions=tests/valgrind.supp --num-callers=30 --quiet"
passed=0; failed=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

run() {
    name=$1; shift
    if KIVA_BUILD="$build" $vg "$@" >"$log" 2>&1; then
        passed=$((passed + 1)); echo "valgrind $name: ok"
    else
        rc=$?
        failed=$((failed + 1))
        if [ "$rc" -eq 99 ]; then echo "valgrind $name: MEMORY ERRORS OR LEAKS"; else echo "valgrind $name: exit $rc"; fi
        cat "$log"
    fi
}

for t in "$build"/ctest/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for script in tests/valgrind_client.lua tests/valgrind_inputs.lua; do
    [ -f "$script" ] || continue
    run "$script" lua5.4 "$script"
done

echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
