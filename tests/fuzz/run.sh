#!/bin/bash
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it for
# MIDA_FUZZ_SECONDS (default 20):
#   run.sh record   task records, seeded with the example and mapping records
#   run.sh nquads   wire payloads (N-Quads), seeded with the mapping tests' .nq
# Exits 77 (skipped) when clang's libFuzzer is absent.
set -u
target=${1:-record}
: "${MIDA_SOURCE_DIR:?}"
src=$MIDA_SOURCE_DIR
command -v clang >/dev/null || { echo "clang not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the library's sources, and the web files and queries CMake embeds
srcs="$(ls "$src"/src/mida_*.c) ${MIDA_BUILD_DIR:?}/mida_assets.c"
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -D_GNU_SOURCE -DMIDA_SOURCE_DIR="\"$src\"" -I"$src/src" \
      "$src/tests/fuzz/fuzz_$target.c" $srcs \
      $(pkg-config --cflags --libs redland raptor2 rasqal jansson zlib libzmq libmicrohttpd libcurl) -lpthread -ldl -lm \
      -o "$tmp/fuzz_$target" 2>"$tmp/cc.log"; then
    if grep -q "libclang_rt.fuzzer\|fsanitize=fuzzer" "$tmp/cc.log"; then
        echo "libFuzzer not available: skipped"; exit 77
    fi
    cat "$tmp/cc.log"; echo "0 passed, 1 failed"; exit 1
fi
mkdir -p "$tmp/corpus"
i=0
if [ "$target" = nquads ]; then
    seeds=("$src"/tests/data/mapping/*.nq)
else
    seeds=("$src"/examples/campaign/*.jsonl "$src"/tests/data/mapping/*.jsonl)
fi
for f in "${seeds[@]}"; do
    while IFS= read -r line; do
        i=$((i+1)); printf '%s\n' "$line" > "$tmp/corpus/seed$i"
    done < "$f"
done
secs=${MIDA_FUZZ_SECONDS:-20}
if (cd "$tmp" && ./fuzz_$target -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$tmp/" corpus > fuzz.log 2>&1); then
    grep -E "stat::number_of_executed_units|cov:" "$tmp/fuzz.log" | tail -2
    echo "1 passed, 0 failed"
else
    tail -60 "$tmp/fuzz.log"
    for a in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
        [ -f "$a" ] || continue
        echo "input that failed ($(basename "$a")), as hex:"; od -An -tx1 "$a" | head -20
        mkdir -p "${MIDA_BUILD_DIR:-/tmp}/fuzz-artifacts" && cp "$a" "${MIDA_BUILD_DIR:-/tmp}/fuzz-artifacts/"
    done
    echo "0 passed, 1 failed"; exit 1
fi
