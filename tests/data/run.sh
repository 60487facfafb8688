#!/bin/bash
# Data-driven mapping tests: every tests/data/mapping/NAME.jsonl is ingested
# into a fresh store (base http://example.org/m) and exported as N-Quads;
# the sorted output must equal NAME.nq.  Ingesting the same file a second
# time must leave the export unchanged (idempotent apply).
#
#   run.sh            check
#   run.sh --update   rewrite the expected files (review the diff!)
set -u
: "${MIDA_BIN:?MIDA_BIN must name the mida program}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
update=${1:-}
pass=0 fail=0
for in in "$here"/mapping/*.jsonl; do
    name=$(basename "$in" .jsonl)
    want="$here/mapping/$name.nq"
    opts=()
    [ -f "$here/mapping/$name.opts" ] && read -r -a opts < "$here/mapping/$name.opts"
    st="$tmp/$name"
    if ! "$MIDA_BIN" ingest -q --store "$st" --base http://example.org/m "${opts[@]}" "$in" 2>"$tmp/err"; then
        echo "FAIL $name: ingest failed"; cat "$tmp/err"; fail=$((fail+1)); continue
    fi
    "$MIDA_BIN" export --store "$st" --format nquads | LC_ALL=C sort > "$tmp/got.nq"
    if [ "$update" = --update ]; then cp "$tmp/got.nq" "$want"; echo "updated $name"; continue; fi
    if ! diff -u "$want" "$tmp/got.nq"; then
        echo "FAIL $name: mapping differs from $want"; fail=$((fail+1)); continue
    fi
    "$MIDA_BIN" ingest -q --store "$st" "$in" 2>/dev/null
    "$MIDA_BIN" export --store "$st" --format nquads | LC_ALL=C sort > "$tmp/again.nq"
    if ! cmp -s "$want" "$tmp/again.nq"; then
        echo "FAIL $name: ingesting twice changed the graph"; diff -u "$want" "$tmp/again.nq" | head -20
        fail=$((fail+1)); continue
    fi
    echo "ok   $name"; pass=$((pass+1))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
