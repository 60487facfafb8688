#!/usr/bin/env bash
# bench/ingest.sh - how fast `mida ingest` loads a synthetic campaign, and
# what the resulting store costs to open and query.
#
#   bench/ingest.sh [N ...]          (default: 1000 10000 100000 tasks)
#
# For each N: bench/gen_campaign.py writes N tasks (20/50/30% over three
# workflows, 2 records per task by default) to a temporary file; then
#   /usr/bin/time -v mida ingest -q --store TMP FILE
# is timed, the store's triples are counted with `mida sparql`, and two
# queries are timed on the saved store (each is a fresh process, so the time
# includes opening the store, i.e. loading snapshot.nt):
#   a small SELECT ... LIMIT 10, and bench/queries/top-models.rq.
# A Markdown table goes to stdout; progress to stderr.  Temporary files are
# removed on exit.
#
# Environment:
#   MIDA=path          the mida binary (default: build-bench/mida, then build/mida)
#   PYTHON=path        python for the generator (default /usr/bin/python3)
#   SEED=n             generator seed (default 1)
#   RPT=1|2            records per task (default 2)
#   BACKEND=name       store back end: memory (default) or bdb
#   INGEST_TIMEOUT=s   stop an ingest after s seconds (default: no limit)
#   QUERY_TIMEOUT=s    stop a query after s seconds (default 900)
#   SHOW_TOP=1         print the top-models.rq answer to stderr
#   TMPDIR=dir         where the temporary directory goes (default /tmp)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
SEED=${SEED:-1}
RPT=${RPT:-2}
BACKEND=${BACKEND:-memory}
QUERY_TIMEOUT=${QUERY_TIMEOUT:-900}
if [[ -z ${MIDA:-} ]]; then
    for c in "$root/build-bench/mida" "$root/build/mida"; do
        [[ -x $c ]] && { MIDA=$c; break; }
    done
fi
[[ -n ${MIDA:-} && -x $MIDA ]] || { echo "ingest.sh: no mida binary (build it, or set MIDA)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "ingest.sh: /usr/bin/time is needed (GNU time)" >&2; exit 2; }

sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 10000 100000)
for n in "${sizes[@]}"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "ingest.sh: not a task count: $n" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mida-bench.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# seconds between two `now` readings, 3 decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN { if (b > 0) printf f, a / b; else printf "-" }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1048576 }'; }
# "m:ss.ss" or "h:mm:ss" from time -v -> seconds
clock_s() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$1"; }
# the value of a `time -v` line, by its label (literal text)
tv() { awk -v k="$1" 'index($0, k ": ") { print substr($0, index($0, k ": ") + length(k) + 2) }' "$2"; }

count_q='SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }'
small_q='SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10'

rows=()
echo "mida: $MIDA (built $(date -u -r "$MIDA" '+%Y-%m-%d %H:%M UTC'); repository HEAD $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')); backend $BACKEND; seed $SEED; $RPT record(s) per task" >&2
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $(uptime | sed 's/.*load average/load average/')" >&2

for n in "${sizes[@]}"; do
    file=$tmp/campaign-$n.jsonl
    store=$tmp/store-$n
    echo "== $n tasks: generating" >&2
    "$PYTHON" "$here/gen_campaign.py" --tasks "$n" --records-per-task "$RPT" --seed "$SEED" >"$file"
    records=$(wc -l <"$file")
    in_bytes=$(stat -c %s "$file")
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== $n tasks: $records records, $(mib "$in_bytes") MiB; ingesting (load $load)" >&2
    to=()
    [[ -n ${INGEST_TIMEOUT:-} ]] && to=(timeout "$INGEST_TIMEOUT")
    set +e
    "${to[@]}" /usr/bin/time -v -o "$tmp/time-$n.txt" \
        "$MIDA" ingest -q --backend "$BACKEND" --store "$store" "$file" 2>"$tmp/ingest-$n.err"
    rc=$?
    set -e
    if [[ $rc -ne 0 ]]; then
        echo "ingest.sh: ingest of $n tasks failed (exit $rc):" >&2
        tail -5 "$tmp/ingest-$n.err" >&2 || true
        rows+=("| $n | $records | ingest failed (exit $rc) | | | | | | | | | | | $load |")
        continue
    fi
    wall=$(clock_s "$(tv 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$tmp/time-$n.txt")")
    user=$(tv 'User time (seconds)' "$tmp/time-$n.txt")
    sys=$(tv 'System time (seconds)' "$tmp/time-$n.txt")
    rss_kb=$(tv 'Maximum resident set size (kbytes)' "$tmp/time-$n.txt")
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')

    triples=$(timeout "$QUERY_TIMEOUT" "$MIDA" sparql --store "$store" --results csv "$count_q" 2>/dev/null | tail -n 1 | tr -d '\r')
    snap=$store/snapshot.nt
    snap_bytes=$( [[ -f $snap ]] && stat -c %s "$snap" || du -sb "$store" | cut -f1)

    t0=$(now)
    timeout "$QUERY_TIMEOUT" "$MIDA" sparql --store "$store" --results csv "$small_q" \
        >"$tmp/small-$n.csv" 2>/dev/null && qrc=0 || qrc=$?
    t1=$(now)
    small_s=$(elapsed "$t0" "$t1")
    [[ $qrc -eq 0 ]] || small_s="failed (exit $qrc) after $small_s"
    timeout "$QUERY_TIMEOUT" /usr/bin/time -v -o "$tmp/qtime-$n.txt" \
        "$MIDA" sparql --store "$store" --results csv --file "$here/queries/top-models.rq" \
        >"$tmp/top-$n.csv" 2>"$tmp/top-$n.err" && qrc=0 || qrc=$?
    if [[ $qrc -eq 0 ]]; then
        top_s=$(clock_s "$(tv 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$tmp/qtime-$n.txt")")
        top_s="$top_s ($(($(wc -l <"$tmp/top-$n.csv") - 1)) rows)"
        top_rss=$(mib $(($(tv 'Maximum resident set size (kbytes)' "$tmp/qtime-$n.txt") * 1024)))
    else
        top_s="failed (exit $qrc)"
        top_rss="-"
    fi
    if [[ -n ${SHOW_TOP:-} ]]; then
        echo "   top-models.rq answer:" >&2
        sed 's/^/     /' "$tmp/top-$n.csv" >&2
    fi

    row="| $n | $records | $wall | $cpu | $(div "$n" "$wall") | $(div "$records" "$wall") | $triples | $(div "$triples" "$n" %.1f) | $(mib $((rss_kb * 1024))) | $(mib "$snap_bytes") | $small_s | $top_s | $top_rss | $load |"
    rows+=("$row")
    echo "   wall ${wall}s, ${triples} triples, peak RSS $(mib $((rss_kb * 1024))) MiB; LIMIT query ${small_s} s, top-models ${top_s} s" >&2
    rm -rf "$store" "$file"
done

echo
echo "| tasks | records | ingest wall s | ingest CPU s | tasks/s | records/s | triples | triples/task | ingest peak RSS MiB | snapshot MiB | open + LIMIT 10 query s | open + top-models.rq s | query peak RSS MiB | load (1 min) at start |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
