#!/bin/bash
# Runs every example command of the README, docs/*.md and docs/adapters/*.md:
# the lines of ```console blocks that start with "$ ".  They run in order, per
# file, in a scratch directory that sees the repository's examples/, queries/
# and adapters/, the build's mida as build/mida and the shared fixtures as
# ../shared (as in a checkout beside ../shared); each must exit 0.
set -u
: "${MIDA_BIN:?}" "${MIDA_SOURCE_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "${MIDA_SHARED_DIR:-$MIDA_SOURCE_DIR/../shared}" "$tmp/shared"
pass=0 fail=0
for doc in "$MIDA_SOURCE_DIR/README.md" "$MIDA_SOURCE_DIR"/docs/*.md "$MIDA_SOURCE_DIR"/docs/adapters/*.md; do
    work="$tmp/$(basename "$(dirname "$doc")")-$(basename "$doc" .md)"
    mkdir -p "$work/build"
    ln -s "$MIDA_SOURCE_DIR/examples" "$work/examples"
    ln -s "$MIDA_SOURCE_DIR/queries" "$work/queries"
    ln -s "$MIDA_SOURCE_DIR/adapters" "$work/adapters"
    ln -s "$MIDA_BIN" "$work/build/mida"
    # the commands of ```console blocks
    mapfile -t cmds < <(awk '/^```console/{on=1; next} /^```/{on=0} on && /^\$ /{sub(/^\$ /, ""); print}' "$doc")
    for cmd in "${cmds[@]}"; do
        if (cd "$work" && bash -c "$cmd") >"$tmp/out" 2>"$tmp/err"; then
            pass=$((pass+1))
        else
            echo "FAIL $(basename "$doc"): $cmd"; cat "$tmp/err"; fail=$((fail+1))
        fi
    done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
