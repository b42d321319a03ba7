#!/bin/sh
# Runs luacheck, the C unit tests and the busted specs; prints one closing line
# "N passed, N failed" counting all of them, and fails if anything failed or was
# left pending.
#   usage: tests/run.sh BUILD_DIR LUA BUSTED LUACHECK
build=${1:-build}; lua=${2:-lua5.4}; busted=${3:-/usr/bin/busted}; luacheck=${4:-luacheck}
cd "$(dirname "$0")/.."
passed=0; failed=0
log=$(mktemp); wrappers=""; trap 'rm -f "$log"; [ -n "$wrappers" ] && rm -rf "$wrappers"' EXIT

echo "== luacheck"
if $luacheck -q lua tests examples bench kiva; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

if [ -n "$KIVA_SAN" ]; then
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
    export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # curl deadlocks at start-up with the ASan runtime preloaded: the specs' curl runs without it.
    wrappers=$(mktemp -d)
    printf '#!/bin/sh\nunset LD_PRELOAD\nexec /usr/bin/curl "$@"\n' > "$wrappers/curl"
    chmod +x "$wrappers/curl"
    PATH="$wrappers:$PATH"
fi
export KIVA_BUILD="$build"

echo "== C unit tests"
for t in "$build"/ctest/test_*; do
    [ -x "$t" ] || continue
    if "$t" >"$log" 2>&1; then :; else echo "$t: exit $?"; failed=$((failed + 1)); fi
    cat "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
        failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    else
        failed=$((failed + 1))
    fi
done

echo "== busted"
$lua "$busted" --cpath="$build/?.so" -o plainTerminal ${BUSTED_ARGS:-} tests 2>&1 | tee "$log"
line=$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -1)
if [ -n "$line" ]; then
    set -- $line
    # a pending test is one that did not run: it counts as a failure, never as silence
    passed=$((passed + $1)); failed=$((failed + $4 + $7 + ${10}))
    [ "${10}" -eq 0 ] || echo "${10} pending: every test must run"
else
    echo "busted did not finish"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
