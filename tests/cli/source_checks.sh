#!/bin/bash
# Source hygiene: no sprintf/strcpy/strcat/atoi/strtok in mida's C code
# (STYLE: bounded writes and checked conversions only), and the ontology
# parses with rapper with neither errors nor warnings.
set -u
: "${MIDA_SOURCE_DIR:?}"
fail=0 pass=0
hits=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|strtok|gets)[[:space:]]*\(' \
        "$MIDA_SOURCE_DIR"/src/*.c "$MIDA_SOURCE_DIR"/src/*.h "$MIDA_SOURCE_DIR"/src/tool/*.c \
        "$MIDA_SOURCE_DIR"/tests/unit/*.c "$MIDA_SOURCE_DIR"/adapters/*/*.[ch] 2>/dev/null)
if [ -n "$hits" ]; then
    echo "FAIL banned functions:"; echo "$hits"; fail=$((fail+1))
else
    echo "ok   no banned functions"; pass=$((pass+1))
fi
if command -v rapper >/dev/null; then
    out=$(rapper -q -i turtle -c "$MIDA_SOURCE_DIR/ontology/mida.ttl" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] || [ -n "$out" ]; then
        echo "FAIL rapper on ontology/mida.ttl (rc=$rc):"; echo "$out"; fail=$((fail+1))
    else
        echo "ok   ontology/mida.ttl parses with rapper"; pass=$((pass+1))
    fi
else
    echo "FAIL rapper not installed (raptor2-utils)"; fail=$((fail+1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
