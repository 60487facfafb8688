#!/usr/bin/python3
"""Cross-checks mida's SPARQL result writers against rdflib's parsers.

Runs $MIDA_BUILD_DIR/mida_results_dump (tests/unit/results_dump.c) for each
format, parses its output with rdflib.query.Result.parse and checks that
every variable and every value comes back as written.  The expected rows
below mirror the rows in results_dump.c; change both together.

Exit status: 0 pass, 1 failure (what differed is printed), 77 skip (rdflib
is not installed).
"""

import io
import os
import re
import subprocess
import sys
import unicodedata

try:
    import rdflib
    from rdflib import BNode, Literal, URIRef
    from rdflib.query import Result
except ImportError:  # pragma: no cover - depends on the machine
    print("SKIP: rdflib is not installed (apt install python3-rdflib)")
    sys.exit(77)

XSD = "http://www.w3.org/2001/XMLSchema#"
VARS = ["s", "o", "x", "u"]

# One dict per row: variable -> (kind, value, datatype, lang).  Unbound
# variables are absent.
ROWS = [
    {"s": ("uri", "http://example.org/a", None, None),
     "o": ("literal", "plain", None, None),
     "x": ("literal", "caf\u00e9 \u2713 \U0001F600", None, "fr")},
    {"s": ("bnode", "b1", None, None),
     "o": ("literal", "say \"hi\", then\r\n\tgo; a<b>&'c' ]]>", None, None),
     "x": ("literal", "42", XSD + "integer", None)},
    {"s": ("uri", "http://example.org/q?a=1,2&b='3'", None, None),
     "o": ("literal", "back\\slash \u00e9", None, None),
     "x": ("literal", "chat", None, "en-GB"),
     "u": ("uri", "https://example.org/u", None, None)},
    {},
    {"s": ("uri", "https://example.org/c", None, None),
     "o": ("literal", "", None, None),
     "x": ("literal", "true", XSD + "boolean", None),
     "u": ("bnode", "n2", None, None)},
    {"s": ("uri", "http://example.org/d", None, None),
     "o": ("literal", "ctl\x01\x1f and \x7f del", None, None),
     "x": ("literal", "line1\nline2", "http://example.org/dt", None)},
]


def xml_expected(value):
    """XML 1.0 cannot carry C0 controls other than TAB, LF and CR; mida
    writes U+FFFD for them (documented in mida_results.c)."""
    return "".join(
        "\ufffd" if ord(c) < 0x20 and c not in "\t\n\r" else c for c in value)


def dump(fmt, what="rows"):
    build = os.environ.get("MIDA_BUILD_DIR")
    if not build:
        raise RuntimeError("MIDA_BUILD_DIR is not set")
    exe = os.path.join(build, "mida_results_dump")
    proc = subprocess.run([exe, fmt, what], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s %s %s: exit %d: %s" % (
            exe, fmt, what, proc.returncode, proc.stderr.decode(errors="replace")))
    return proc.stdout


def parse(fmt, data):
    return Result.parse(io.BytesIO(data), format=fmt)


def expand_uchar(data):
    r"""TSV terms are Turtle, whose strings may hold \uXXXX escapes (mida
    writes C0 controls and DEL that way, as N-Triples does).  rdflib's TSV
    parser reuses its SPARQL string grammar, which has no UCHAR because a
    SPARQL processor expands them before parsing; do that expansion here,
    leaving the other escapes (\\ \" \n ...) alone."""
    def repl(m):
        esc = m.group(0)
        if esc[1] in "uU":
            return chr(int(esc[2:], 16))
        return esc
    text = data.decode("utf-8")
    text = re.sub(r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", repl, text)
    return text.encode("utf-8")


def term_tuple(term):
    """rdflib term -> (kind, value, datatype, lang), lang lower-cased since
    rdflib normalises language tags."""
    if term is None:
        return None
    if isinstance(term, URIRef):
        return ("uri", str(term), None, None)
    if isinstance(term, BNode):
        return ("bnode", str(term), None, None)
    if isinstance(term, Literal):
        dt = str(term.datatype) if term.datatype is not None else None
        if dt == XSD + "string":
            dt = None
        lang = term.language.lower() if term.language else None
        return ("literal", str(term), dt, lang)
    return ("?", repr(term), None, None)


def norm(expected):
    kind, value, dt, lang = expected
    return (kind, value, dt, lang.lower() if lang else None)


class Checker:
    def __init__(self):
        self.failures = 0

    def fail(self, fmt, msg):
        self.failures += 1
        print("FAIL [%s] %s" % (fmt, msg))

    def check_vars(self, fmt, result, want):
        got = [str(v) for v in (result.vars or [])]
        if got != want:
            self.fail(fmt, "vars: got %r, want %r" % (got, want))

    def check_rows(self, fmt, result, rows, expect):
        """`expect(var, tuple)` turns an expected cell into what this format
        should give back (None = nothing)."""
        got_rows = list(result.bindings)
        if len(got_rows) != len(rows):
            self.fail(fmt, "rows: got %d, want %d" % (len(got_rows), len(rows)))
            return
        for i, (got, want) in enumerate(zip(got_rows, rows)):
            for var in VARS:
                g = got.get(rdflib.Variable(var))
                w = want.get(var)
                w = expect(w) if w is not None else None
                g = term_tuple(g) if g is not None else None
                if g != w:
                    self.fail(fmt, "row %d ?%s: got %r, want %r" % (i, var, g, w))


def main():
    chk = Checker()
    exe = os.path.join(os.environ.get("MIDA_BUILD_DIR", ""), "mida_results_dump")
    if not os.environ.get("MIDA_BUILD_DIR") or not os.access(exe, os.X_OK):
        print("FAIL: %s is missing (set MIDA_BUILD_DIR to the cmake build "
              "directory and build the mida_results_dump target)" % exe)
        return 1

    # JSON and TSV carry everything.
    for fmt in ("json", "tsv"):
        try:
            data = dump(fmt)
            if fmt == "tsv":
                if b'"ctl\\u0001\\u001F and \\u007F del"' not in data:
                    chk.fail(fmt, "control characters not written as \\u escapes")
                data = expand_uchar(data)
            res = parse(fmt, data)
        except Exception as e:  # noqa: BLE001 - report and go on
            chk.fail(fmt, "could not parse: %s" % e)
            continue
        if res is None:
            chk.fail(fmt, "parser returned nothing")
            continue
        chk.check_vars(fmt, res, VARS)
        chk.check_rows(fmt, res, ROWS, norm)

    # XML carries everything XML 1.0 can.
    try:
        res = parse("xml", dump("xml"))
        chk.check_vars("xml", res, VARS)
        chk.check_rows("xml", res, ROWS, lambda w: norm(
            (w[0], xml_expected(w[1]), w[2], w[3])))
    except Exception as e:  # noqa: BLE001
        chk.fail("xml", "could not parse: %s" % e)

    # CSV carries only the text: IRI, lexical form, _:label.  An empty
    # literal reads back as unbound; rdflib guesses IRIs from "http".
    def csv_expect(w):
        kind, value, _dt, _lang = w
        if kind == "bnode":
            return ("bnode", "_:" + value, None, None)
        if kind == "literal" and value == "":
            return None
        if kind == "uri":
            return ("uri", value, None, None)
        return ("literal", value, None, None)

    try:
        data = dump("csv")
        res = parse("csv", data)
        chk.check_vars("csv", res, VARS)
        chk.check_rows("csv", res, ROWS, csv_expect)
        lines = data.split(b"\r\n")
        if lines[0] != b"s,o,x,u" or lines[-1] != b"":
            chk.fail("csv", "header or CRLF line ends wrong: %r" % data[:40])
    except Exception as e:  # noqa: BLE001
        chk.fail("csv", "could not parse: %s" % e)

    # ASK and empty results.
    for fmt in ("json", "xml"):
        for what, want in (("ask-true", True), ("ask-false", False)):
            try:
                res = parse(fmt, dump(fmt, what))
                if res.type != "ASK" or res.askAnswer is not want:
                    chk.fail(fmt, "%s: got %s %r" % (what, res.type, res.askAnswer))
            except Exception as e:  # noqa: BLE001
                chk.fail(fmt, "%s: could not parse: %s" % (what, e))
    for fmt in ("json", "xml", "csv", "tsv"):
        try:
            res = parse(fmt, dump(fmt, "empty"))
            chk.check_vars(fmt + "/empty", res, ["s", "o"])
            if list(res.bindings):
                chk.fail(fmt, "empty: got rows %r" % list(res.bindings))
        except Exception as e:  # noqa: BLE001
            chk.fail(fmt, "empty: could not parse: %s" % e)
    for fmt, want in (("csv", b"boolean\r\ntrue\r\n"), ("tsv", b"?boolean\ntrue\n")):
        try:
            got = dump(fmt, "ask-true")
        except Exception as e:  # noqa: BLE001
            chk.fail(fmt, "ask-true: %s" % e)
            continue
        if got != want:
            chk.fail(fmt, "ask-true: got %r, want %r" % (got, want))

    # The table: every line as wide as the first, in code points.
    try:
        text = dump("table").decode("utf-8")
        lines = text.rstrip("\n").split("\n")
        widths = {len(unicodedata.normalize("NFC", ln)) for ln in lines}
        if len(widths) != 1 or len(lines) != len(ROWS) + 4:
            chk.fail("table", "ragged or wrong length:\n" + text)
    except Exception as e:  # noqa: BLE001
        chk.fail("table", "could not read: %s" % e)

    if chk.failures:
        print("%d check(s) failed" % chk.failures)
        return 1
    print("ok: json, xml, csv, tsv round-trip through rdflib %s" % rdflib.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
