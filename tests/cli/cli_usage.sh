#!/bin/bash
# CLI usage contract of `mida`: flags, exit codes, and what goes to stdout
# and what to stderr, for the program and for every command.
#
#   - `mida --help` / `-h` / `help`: usage on stdout, exit 0, stderr empty;
#     it lists every command, and each listed command answers `--help`.
#   - `mida` alone: usage on stderr, nothing on stdout, exit 2.
#   - unknown command: exit 2, named on stderr, nothing on stdout.
#   - `mida --version` / `version`: "mida X.Y.Z" on stdout (the project
#     version of CMakeLists.txt), exit 0.
#   - `mida CMD --help`: exit 0, stdout only, starts "Usage: mida CMD".
#   - every option that `CMD --help` lists, long form and short form, is
#     accepted: run with a valid value it neither reports an unknown
#     option nor exits 2 (it exits 0).
#   - usage errors exit 2 with "Try 'mida CMD --help'." on stderr and
#     nothing on stdout: an unknown option, missing --store, unknown
#     --format / --results / --syntax / --backend, a missing query.
#   - `mida sparql` / `mida export` on a store directory that does not
#     exist: exit 1, the directory named on stderr, nothing on stdout, and
#     the directory is not created.
#
# Needs MIDA_BIN (set by CTest).  Exit 0 when every check passes.
set -u
: "${MIDA_BIN:?MIDA_BIN must name the mida program}"
M=$MIDA_BIN
here=$(cd "$(dirname "$0")" && pwd)
src=${MIDA_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mida-cli-usage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 143' TERM INT HUP

pass=0 fail=0
ok()   { pass=$((pass+1)); echo "ok   $*"; }
bad()  { fail=$((fail+1)); echo "FAIL $*"; }
show() { # label file: print a captured stream, indented, for a failure
    echo "     --- $1:"; sed -e 's/^/     | /' "$2" | head -20
}

# run ARGS...: runs mida, leaving rc, $tmp/out and $tmp/err
run() {
    "$M" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
}
# expect DESC RC OUT ERR: OUT/ERR are "empty", "nonempty" or "any"
expect() {
    local desc=$1 want_rc=$2 want_out=$3 want_err=$4 why=""
    [ "$rc" -eq "$want_rc" ] || why="$why exit $rc (want $want_rc);"
    case $want_out in
        empty)    [ -s "$tmp/out" ] && why="$why stdout not empty;" ;;
        nonempty) [ -s "$tmp/out" ] || why="$why stdout empty;" ;;
    esac
    case $want_err in
        empty)    [ -s "$tmp/err" ] && why="$why stderr not empty;" ;;
        nonempty) [ -s "$tmp/err" ] || why="$why stderr empty;" ;;
    esac
    if [ -z "$why" ]; then ok "$desc"; return 0; fi
    bad "$desc:$why"; show stdout "$tmp/out"; show stderr "$tmp/err"
    return 1
}
# contains DESC FILE TEXT: fixed-string search
contains() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else
        bad "$1: '$3' not in $(basename "$2")"; show "$(basename "$2")" "$2"; fi
}
# no_unknown_option DESC: stderr has none of getopt's or mida's
# unknown-option messages
no_unknown_option() {
    if grep -qiE 'unknown (or incomplete )?option|unrecognized option|invalid option' "$tmp/err"; then
        bad "$1: reported as an unknown option"; show stderr "$tmp/err"; return 1
    fi
    return 0
}

# ---- a tiny store for the commands to work on ----------------------------
base=http://example.org/usage
cat > "$tmp/records.jsonl" <<'EOF'
{"workflow_id": "w1", "workflow_name": "usage", "status": "RUNNING", "started_at": "2024-01-01T00:00:00Z"}
{"task_id": "t1", "workflow_id": "w1", "activity_id": "act", "status": "FINISHED", "started_at": "2024-01-01T00:00:00Z", "ended_at": "2024-01-01T00:00:01Z", "used": {"x": 1}, "generated": {"y": "/data/out.txt"}}
EOF
store=$tmp/store
if ! "$M" ingest -q --store "$store" --base "$base" "$tmp/records.jsonl" 2>"$tmp/err"; then
    bad "setup: cannot ingest the test records"; show stderr "$tmp/err"
    echo "$pass passed, $fail failed"; exit 1
fi
graph=$base/graph/w1
query='SELECT ?s WHERE { ?s ?p ?o } LIMIT 1'

# ---- the program ---------------------------------------------------------
for h in --help -h help; do
    run "$h"
    expect "mida $h: usage on stdout, exit 0" 0 nonempty empty &&
        contains "mida $h: starts with Usage" "$tmp/out" "Usage: mida COMMAND"
done
run --help
cp "$tmp/out" "$tmp/main-help"
# the commands the help lists: "  NAME     summary" lines after "Commands:"
mapfile -t cmds < <(sed -n '/^Commands:/,/^$/p' "$tmp/main-help" |
                    sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
if [ "${#cmds[@]}" -ge 3 ]; then ok "mida --help lists ${#cmds[@]} commands: ${cmds[*]}"
else bad "mida --help lists too few commands: '${cmds[*]}'"; show stdout "$tmp/main-help"; fi
for want in ingest sparql export; do
    case " ${cmds[*]} " in *" $want "*) ok "mida --help lists $want" ;;
        *) bad "mida --help does not list $want" ;; esac
done

run
expect "mida (no arguments): usage on stderr, exit 2" 2 empty nonempty &&
    contains "mida (no arguments): stderr shows the usage" "$tmp/err" "Usage: mida"

run frobnicate --store "$store"
expect "mida frobnicate: unknown command, exit 2" 2 empty nonempty &&
    contains "mida frobnicate: names the command" "$tmp/err" "frobnicate"

run --bogus-flag
expect "mida --bogus-flag: exit 2" 2 empty nonempty

want_version=$(sed -n 's/^project(mida VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
for v in --version version; do
    run "$v"
    if expect "mida $v: exit 0, stdout only" 0 nonempty empty; then
        got=$(cat "$tmp/out")
        if [ -n "$want_version" ] && [ "$got" = "mida $want_version" ]; then
            ok "mida $v prints 'mida $want_version'"
        elif [ -z "$want_version" ] && [[ $got =~ ^mida\ [0-9]+\.[0-9]+\.[0-9]+ ]]; then
            ok "mida $v prints a version ($got)"
        else
            bad "mida $v prints '$got', want 'mida $want_version'"
        fi
    fi
done

# ---- CMD --help, and every option it lists -----------------------------

# A valid value for each option, by long name, then by metavar.  The
# run for option --X is the command's base run (below) plus "--X VALUE";
# "@fresh" stands for a store directory that does not exist yet.
value_for() { # OPTION METAVAR
    case $1 in
        store)    echo "@store" ;;
        base)     echo "$base" ;;
        alias)    echo "/gpfs/a=/lustre/a" ;;
        backend)  echo "memory" ;;
        syntax)   echo "jsonl" ;;
        file)     echo "$tmp/query.rq" ;;
        results)  echo "csv" ;;
        format)   echo "ntriples" ;;
        max-rows) echo "10" ;;
        timeout)  echo "30" ;;
        graph)    echo "$graph" ;;
        output)   echo "$tmp/export-out" ;;
        *) case $2 in
               DIR) echo "@store" ;; FILE) echo "$tmp/some-file" ;;
               IRI) echo "$base/x" ;; N|SECONDS) echo "10" ;;
               *) echo "" ;;
           esac ;;
    esac
}
printf '%s\n' "$query" > "$tmp/query.rq"

# base_args CMD STORE: a run of CMD that succeeds without extra options
# (the option under test goes in front of the operands)
base_args() {
    case $1 in
        ingest) echo "--store|$2|--base|$base|$tmp/records.jsonl" ;;
        sparql) echo "--store|$2|--results|csv|$query" ;;
        export) echo "--store|$2|--format|nquads" ;;
    esac
}

for cmd in "${cmds[@]}"; do
    run "$cmd" --help
    expect "mida $cmd --help: exit 0, stdout only" 0 nonempty empty || continue
    contains "mida $cmd --help: starts with 'Usage: mida $cmd'" "$tmp/out" "Usage: mida $cmd"
    cp "$tmp/out" "$tmp/help-$cmd"
    run "$cmd" -h
    expect "mida $cmd -h: exit 0, stdout only" 0 nonempty empty

    # Option lines look like "  -s, --store DIR   text" or "      --no-promote  text".
    mapfile -t optlines < <(grep -E '^ +(-[A-Za-z], )?--[a-z][a-z0-9-]*' "$tmp/help-$cmd")
    # Every --long mentioned anywhere in the text must be one of those.
    mapfile -t mentioned < <(grep -oE -- '--[a-z][a-z0-9-]+' "$tmp/help-$cmd" | sort -u)
    listed=" "
    for l in "${optlines[@]}"; do
        listed+="$(sed -E 's/^ +(-[A-Za-z], )?--([a-z][a-z0-9-]*).*/\2/' <<<"$l") "
    done
    for m in "${mentioned[@]}"; do
        case $listed in *" ${m#--} "*) ;;
            *) bad "mida $cmd --help mentions $m but has no option line for it" ;; esac
    done
    if [ "${#optlines[@]}" -lt 1 ]; then
        bad "mida $cmd --help: found no option lines"; continue
    fi
    ok "mida $cmd --help lists ${#optlines[@]} options:$listed"
    # the commands that talk to a running integrator have their options
    # exercised by cli_live.sh
    [ -n "$(base_args "$cmd" "$store")" ] || continue

    for l in "${optlines[@]}"; do
        short=$(sed -nE 's/^ +-([A-Za-z]), --.*/\1/p' <<<"$l")
        long=$(sed -E 's/^ +(-[A-Za-z], )?--([a-z][a-z0-9-]*).*/\2/' <<<"$l")
        metavar=$(sed -nE 's/^ +(-[A-Za-z], )?--[a-z][a-z0-9-]*[ =]([A-Z][A-Z=]*)( .*)?$/\2/p' <<<"$l")
        [ "$long" = help ] && continue
        # sparql's remote options exclude --store; they are exercised
        # against real endpoints by tests/python/test_sparql_endpoint_client.py
        [ "$cmd" = sparql ] && case $long in
            endpoint|default-graph-uri|named-graph-uri) continue ;; esac
        st=$tmp/st-$cmd-$long
        if [ "$cmd" = ingest ]; then
            rm -rf "$st"            # ingest options such as --base are fixed at creation
        else
            st=$store
        fi
        IFS='|' read -r -a args <<<"$(base_args "$cmd" "$st")"
        for form in long short; do
            [ "$form" = short ] && [ -z "$short" ] && continue
            flag=--$long; [ "$form" = short ] && flag=-$short
            extra=("$flag")
            if [ -n "$metavar" ]; then
                v=$(value_for "$long" "$metavar")
                if [ -z "$v" ]; then
                    bad "mida $cmd $flag $metavar: the test knows no valid value (add one to value_for)"
                    continue
                fi
                [ "$v" = "@store" ] && v=$st
                extra+=("$v")
            fi
            [ "$cmd" = ingest ] && rm -rf "$st"
            # the option goes after the base options, before the operand
            # (--file replaces the query operand)
            n=${#args[@]}
            if [ "$cmd" = export ]; then
                run "$cmd" "${args[@]}" "${extra[@]}"
            elif [ "$cmd" = sparql ] && [ "$long" = file ]; then
                run "$cmd" "${args[@]:0:n-1}" "${extra[@]}"
            else
                run "$cmd" "${args[@]:0:n-1}" "${extra[@]}" "${args[n-1]}"
            fi
            desc="mida $cmd ... ${extra[*]}"
            no_unknown_option "$desc" || continue
            if [ "$rc" -ne 0 ]; then
                bad "$desc: exit $rc (want 0)"; show stderr "$tmp/err"; continue
            fi
            ok "$desc: accepted, exit 0"
        done
    done
    rm -f "$tmp/export-out"
done

# ---- usage errors: exit 2, stderr only, "Try 'mida CMD --help'." --------
usage_error() { # DESC CMD ARGS...
    local desc=$1; shift
    run "$@"
    expect "$desc: exit 2, stderr only" 2 empty nonempty &&
        contains "$desc: points to --help" "$tmp/err" "Try 'mida $1 --help'."
}
usage_error "ingest without --store" ingest "$tmp/records.jsonl"
usage_error "sparql without --store" sparql "$query"
usage_error "sparql with --store and --endpoint" sparql --store "$store" --endpoint http://127.0.0.1:1/sparql "$query"
usage_error "sparql --endpoint that is not http(s)" sparql --endpoint ftp://127.0.0.1/sparql "$query"
usage_error "sparql --default-graph-uri with --store" sparql --store "$store" --default-graph-uri "$graph" "$query"
usage_error "export without --store" export --format turtle
usage_error "ingest without FILE" ingest --store "$tmp/never"
usage_error "sparql without a query" sparql --store "$store"
usage_error "sparql with a query and --file" sparql --store "$store" --file "$tmp/query.rq" "$query"
usage_error "export without --format" export --store "$store"
for cmd in "${cmds[@]}"; do
    usage_error "$cmd --no-such-option" "$cmd" --no-such-option --store "$store"
done
usage_error "export --format bogus" export --store "$store" --format bogus
contains "export --format bogus: names the value" "$tmp/err" "bogus"
usage_error "sparql --format bogus" sparql --store "$store" --format bogus "$query"
usage_error "sparql --results bogus" sparql --store "$store" --results bogus "$query"
contains "sparql --results bogus: names the value" "$tmp/err" "bogus"
usage_error "ingest --syntax bogus" ingest --store "$tmp/never" --syntax bogus "$tmp/records.jsonl"
usage_error "ingest --backend bogus" ingest --store "$tmp/never" --backend bogus "$tmp/records.jsonl"
usage_error "ingest --alias without =" ingest --store "$tmp/never" --alias nothing "$tmp/records.jsonl"
usage_error "ingest --base relative" ingest --store "$tmp/never" --base relative/iri "$tmp/records.jsonl"
usage_error "sparql --max-rows x" sparql --store "$store" --max-rows x "$query"
usage_error "sparql --timeout -1" sparql --store "$store" --timeout -1 "$query"
usage_error "export with an extra operand" export --store "$store" --format turtle extra
usage_error "sparql --store (no value)" sparql --store
if [ -e "$tmp/never" ]; then bad "a usage error created the store $tmp/never"
else ok "usage errors create no store"; fi

# ---- a store that does not exist --------------------------------------
missing=$tmp/no-such-store
run sparql --store "$missing" "$query"
expect "sparql on a missing store: exit 1, stderr only" 1 empty nonempty &&
    contains "sparql on a missing store: names the directory" "$tmp/err" "$missing"
run export --store "$missing" --format turtle
expect "export on a missing store: exit 1, stderr only" 1 empty nonempty &&
    contains "export on a missing store: names the directory" "$tmp/err" "$missing"
if [ -e "$missing" ]; then bad "sparql/export created the missing store directory"
else ok "sparql/export did not create the missing store directory"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
