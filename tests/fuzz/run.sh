#!/bin/sh
# Builds and runs every libFuzzer target tests/fuzz/fuzz_<name>.c for SECONDS each.
#   usage: tests/fuzz/run.sh SECONDS [NAME...]     (default 60 s, all targets)
# Each target links the core's sources (built here with clang and ASan+UBSan) and
# liblua; it starts from its corpus tests/fuzz/corpus/<name>/ (read-only) plus an
# optional dictionary tests/fuzz/<name>.dict. New inputs go to build/fuzz/corpus/<name>/;
# with FUZZ_MERGE=1 they are folded back, minimized with -merge=1, into the kept corpus.
# Prints one line per target: "fuzz <name>: <executions> executions, <ok|CRASH>" and
# exits non-zero if any target found a crash (artifacts in build/fuzz/).
set -u
seconds=${1:-60}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.." || exit 2

cc=${FUZZ_CC:-clang}
pkg=${PKG:-pkg-config}
out=build/fuzz
san="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c99 -D_DEFAULT_SOURCE -Isrc $($pkg --cflags lua5.4 libcurl libzip)"
libs="$($pkg --libs lua5.4 libcurl libcrypto libzip) -lm"

mkdir -p "$out/obj" || exit 2
for src in src/*.c; do
    obj="$out/obj/$(basename "$src" .c).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj")" ]; then
        # via a temporary name: two runs at once must never link a half-written object
        $cc $san -fsanitize=fuzzer-no-link $cflags -c -o "$obj.$$.tmp" "$src" && mv "$obj.$$.tmp" "$obj" || exit 2
    fi
done

if [ $# -gt 0 ]; then
    targets=""
    for name in "$@"; do targets="$targets tests/fuzz/fuzz_$name.c"; done
else
    targets=$(ls tests/fuzz/fuzz_*.c 2>/dev/null)
fi

status=0
for t in $targets; do
    name=$(basename "$t" .c); name=${name#fuzz_}
    bin="$out/fuzz_$name"
    $cc $san -fsanitize=fuzzer $cflags -o "$bin.$$.tmp" "$t" "$out"/obj/*.o $libs && mv "$bin.$$.tmp" "$bin" || exit 2
    kept="tests/fuzz/corpus/$name"
    work="$out/corpus/$name"
    mkdir -p "$kept" "$work"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    log="$out/$name.log"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$out/$name-" $dict "$work" "$kept" >"$log" 2>&1
    rc=$?
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    if [ $rc -eq 0 ]; then
        echo "fuzz $name: ${execs:-?} executions, ok (log $log)"
    else
        echo "fuzz $name: ${execs:-?} executions, CRASH (exit $rc; log $log)"
        grep -E 'ERROR|fuzz_|SUMMARY|Test unit written' "$log" | head -20
        status=1
    fi
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        rm -rf "$kept.new" && mkdir -p "$kept.new"
        "$bin" -merge=1 $dict "$kept.new" "$kept" "$work" >>"$log" 2>&1 \
            && rm -rf "$kept" && mv "$kept.new" "$kept"
    fi
done
exit $status
