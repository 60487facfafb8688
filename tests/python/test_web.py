"""The web page at `/` of `mida serve`, in headless Chromium (Debian's
`chromium` and `chromium-driver`, driven by python3-selenium).

  A. the page loads; the example queries of queries/ fill the list
  B. choosing `lineage-metrics-to-acquisition` and clicking Run shows a
     table of exactly 12 rows (the example campaign), with the expected
     first row and IRIs shortened to the base; screenshot web-page.png
  C. the Raw tab shows the answer as SPARQL JSON (12 bindings); the raw
     format selection gives CSV
  D. the lineage button of a model cell draws the lineage graph as SVG:
     nodes and edges, the model at the centre, the microscope acquisition
     tasks of workflow 1 upstream; clicking a node re-centres the graph;
     /?lineage=IRI opens the view directly; screenshot web-lineage.png
  E. a query with a syntax error, run with Ctrl+Enter, shows the server's
     400 message; the table shows no stale rows
  F. ASK shows its boolean; CONSTRUCT its triples as a table and Turtle
     in the Raw tab
  G. the browser console has no errors (apart from the network entry for
     the 400 and 501 that E provokes on purpose)

Screenshots go to $MIDA_BUILD_DIR (CTest sets it; else the working
directory).  Skipped (exit 77) when selenium, chromium or chromedriver is
missing, except under CI (CI set), where that is a failure.
"""
import base64
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness  # noqa: E402

CHROMIUM = os.environ.get("MIDA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MIDA_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing(what):
    if os.environ.get("CI"):
        print("FAIL %s missing, and CI is set: scripts/deps installs it" % what)
        sys.exit(1)
    print("%s missing: skipped" % what)
    sys.exit(77)


try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    missing("python3-selenium")
for exe in (CHROMIUM, CHROMEDRIVER):
    if not os.access(exe, os.X_OK):
        missing(exe)

H = Harness("web")
check = H.check
EXAMPLE = "lineage-metrics-to-acquisition"
ALIAS = ["--alias", "/gpfs/alpine/proj=/lustre/orion/proj"]
BASE = "http://127.0.0.1:7878"      # the default base of minted IRIs
MODEL_3 = BASE + "/data/%2Flustre%2Forion%2Fproj%2Fmodels%2Fmodel_3.pt"
ACQ = [BASE + "/task/wf-microscope-01/acq-%d" % i for i in range(3)]
S = {"srv": None, "driver": None, "profile": None, "model": None, "triples": None}


def wait(cond, what, timeout=60):
    """Waits for cond(driver) to be truthy; returns it, or None on timeout."""
    try:
        return WebDriverWait(S["driver"], timeout * H.mult, poll_frequency=0.1).until(
            lambda d: cond(d))
    except TimeoutException:
        check(False, "in time: " + what)
        return None


def js(script, *args):
    return S["driver"].execute_script(script, *args)


def screenshot(name):
    """The whole page, also what lies below the window (DevTools protocol)."""
    d = S["driver"]
    path = os.path.join(H.build, name)
    w, h = js("var e = document.documentElement; return [e.scrollWidth, e.scrollHeight]")
    shot = d.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": w, "height": min(h, 6000), "scale": 1}})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    check(os.path.getsize(path) > 10000, "screenshot written: " + path)
    print("screenshot: " + os.path.abspath(path), flush=True)


def table_rows(d):
    box = d.find_element(By.ID, "result-table")
    if box.get_attribute("data-state") != "done":
        return None
    return box.find_elements(By.CSS_SELECTOR, "table tbody tr")


def setup():
    store = H.path("store")
    S["srv"] = srv = H.serve(store, *ALIAS)
    check(srv.http.startswith("http://127.0.0.1:"), "serve prints its web address", srv.http)
    rc, out, err = H.emit(srv.endpoint, H.campaign())
    check(rc == 0, "the example campaign is emitted and acknowledged", err)
    deadline = time.time() + 60 * H.mult
    st = {}
    while time.time() < deadline:
        with urllib.request.urlopen(srv.http + "status", timeout=10) as r:
            st = json.load(r)
        if st.get("received", 0) > 0 and st.get("applied") == st.get("received") and st.get("store_triples"):
            break
        time.sleep(0.1)
    check(st.get("applied") == st.get("received") and st.get("store_triples", 0) > 1000,
          "the integrator applied the campaign", st)
    S["triples"] = st.get("store_triples")

    # the profile lives outside the harness's directory: it is removed after
    # the browser quits, also when a signal ends the test (see main)
    S["profile"] = tempfile.mkdtemp(prefix="mida-web-chromium.")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-extensions",
              "--disable-default-apps", "--user-data-dir=" + S["profile"],
              "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the sanitizer build's options are for mida, not for the browser
    env = {k: v for k, v in os.environ.items() if not k.endswith("SAN_OPTIONS")}
    service = Service(CHROMEDRIVER, log_path=H.path("chromedriver.log"), env=env)
    t0 = time.time()
    S["driver"] = webdriver.Chrome(service=service, options=opts)
    S["driver"].set_page_load_timeout(60 * H.mult)
    S["driver"].set_script_timeout(60 * H.mult)
    print("     chromium started in %.1f s" % (time.time() - t0), flush=True)


def section_a_page_loads():
    d = S["driver"]
    d.get(S["srv"].http)
    check(d.title.startswith("mida"), "the page at / loads", d.title)
    names = wait(lambda d: [b.get_attribute("data-name") for b in
                            d.find_elements(By.CSS_SELECTOR, "#examples button[data-name]")] or None,
                 "the example list fills")
    check(names and EXAMPLE in names, "the examples of queries/ are listed", names)
    check(names == sorted(names or []), "the examples are sorted by name", names)
    btn = d.find_element(By.CSS_SELECTOR, '#examples button[data-name="%s"]' % EXAMPLE)
    check("evaluation run" in btn.text, "an example shows its title", btn.text)
    st = wait(lambda d: (lambda t: t if "triples" in t else None)(
        d.find_element(By.ID, "store-status").text), "the header shows the triple count")
    check(st and "{:,} triples".format(S["triples"] or 0) in st,
          "the header shows the store's triple count", (st, S["triples"]))


def section_b_run_example():
    d = S["driver"]
    d.find_element(By.CSS_SELECTOR, '#examples button[data-name="%s"]' % EXAMPLE).click()
    text = d.find_element(By.ID, "editor").get_attribute("value")
    check("SELECT ?evaluation ?accuracy" in text, "choosing the example loads it into the editor")
    d.find_element(By.ID, "run").click()
    rows = wait(lambda d: table_rows(d), "the result table appears")
    check(rows is not None and len(rows) == 12, "the table shows exactly 12 rows",
          None if rows is None else len(rows))
    if not rows:
        return
    heads = [th.text for th in d.find_elements(By.CSS_SELECTOR, "#result-table thead th")]
    check(heads == ["#", "evaluation", "accuracy", "model", "lr", "batch_size", "image", "exposure_s"],
          "the columns are the query's variables", heads)
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    vals = [c.text for c in cells]
    check(cells[2].text == "0.93" and "num" in cells[2].get_attribute("class"),
          "row 1: accuracy 0.93, a number", vals)
    check(cells[7].text == "0.5", "row 1: exposure_s 0.5", vals)
    a = cells[1].find_element(By.TAG_NAME, "a")
    check(a.text == ":task/wf-eval-3/run-03" and a.get_attribute("title") == BASE + "/task/wf-eval-3/run-03",
          "IRIs are shortened to the base, the full IRI in the tooltip", (a.text, a.get_attribute("title")))
    href = a.get_attribute("href")
    check(href == S["srv"].http + "resource?iri=" + urllib.parse.quote(BASE + "/task/wf-eval-3/run-03", safe=""),
          "an IRI links to its description on this server", href)
    model = cells[3].find_element(By.TAG_NAME, "a").get_attribute("title")
    check(model == MODEL_3, "row 1: the model is model_3.pt", model)
    S["model"] = model
    info = d.find_element(By.ID, "result-info").text
    check(info.startswith("12 rows ·") and "ms" in info, "the row count and elapsed time are shown", info)
    screenshot("web-page.png")


def section_c_raw():
    d = S["driver"]
    d.find_element(By.ID, "tab-raw").click()
    raw = wait(lambda d: d.find_element(By.ID, "raw").text
               if d.find_element(By.ID, "raw").get_attribute("data-state") == "done" else None,
               "the raw answer appears")
    try:
        res = json.loads(raw or "")
        n = len(res["results"]["bindings"])
    except (ValueError, KeyError, TypeError) as e:
        n = "not SPARQL JSON: %r" % e
    check(n == 12, "the Raw tab shows the answer as SPARQL JSON with 12 bindings", n)
    Select(d.find_element(By.ID, "raw-format")).select_by_value("text/csv")
    csv = wait(lambda d: d.find_element(By.ID, "raw").text
               if d.find_element(By.ID, "raw").get_attribute("data-state") == "done"
               and "text/csv" in d.find_element(By.ID, "raw-info").text else None,
               "the raw answer as CSV appears")
    lines = (csv or "").strip().splitlines()
    check(lines and lines[0].strip() == "evaluation,accuracy,model,lr,batch_size,image,exposure_s"
          and len(lines) == 13, "the raw format selection gives CSV (header + 12 lines)", lines[:2])
    Select(d.find_element(By.ID, "raw-format")).select_by_value("auto")
    d.find_element(By.ID, "tab-table").click()
    check(d.find_element(By.ID, "pane-table").is_displayed() and
          not d.find_element(By.ID, "pane-raw").is_displayed(), "the Table tab comes back")


def graph_done(d, root):
    box = d.find_element(By.ID, "lineage-graph")
    if box.get_attribute("data-state") == "error":
        return "error"
    if box.get_attribute("data-state") != "done":
        return None
    roots = box.find_elements(By.CSS_SELECTOR, "svg g.node.root")
    if not roots or roots[0].get_attribute("data-iri") != root:
        return None
    return "done"


def graph_nodes(d):
    return {g.get_attribute("data-iri"): (g.get_attribute("data-kind"), int(g.get_attribute("data-dist")))
            for g in d.find_elements(By.CSS_SELECTOR, "#lineage-graph svg g.node")}


def section_d_lineage():
    d = S["driver"]
    model = S["model"] or MODEL_3
    btn = d.find_element(By.CSS_SELECTOR, '#result-table tbody tr:first-child button.lin[data-iri="%s"]' % model)
    btn.click()
    check(d.find_element(By.ID, "view-lineage").is_displayed(), "the lineage button opens the lineage view")
    check(d.find_element(By.ID, "lineage-iri").get_attribute("value") == model,
          "the lineage view is given the model's IRI")
    res = wait(lambda d: graph_done(d, model), "the lineage graph is drawn", timeout=90)
    if res != "done":
        check(False, "the lineage graph is drawn without error", d.find_element(By.ID, "lineage-error").text)
        return
    nodes = graph_nodes(d)
    edges = d.find_elements(By.CSS_SELECTOR, "#lineage-graph svg path.edge")
    check(len(nodes) >= 10 and len(edges) >= 10, "the SVG has nodes and edges",
          (len(nodes), len(edges)))
    check(nodes.get(model) == ("data", 0), "the model is the centre, drawn as data", nodes.get(model))
    acq = {i: nodes.get(i) for i in ACQ}
    check(all(v and v[0] == "activity" and v[1] == -3 for v in acq.values()),
          "the acquisition tasks of workflow 1 are upstream activities, 3 hops away", acq)
    train = nodes.get(BASE + "/task/wf-hpo-07/train-3")
    check(train == ("activity", -1), "the training task is 1 hop upstream", train)
    run03 = nodes.get(BASE + "/task/wf-eval-3/run-03")
    check(run03 == ("activity", 1), "the evaluation that used the model is 1 hop downstream", run03)
    img0 = BASE + "/data/%2Flustre%2Forion%2Fproj%2Fraw%2Fimg_0000.h5"
    gen = d.find_elements(By.CSS_SELECTOR, '#lineage-graph svg path.edge[data-s="%s"][data-o="%s"]'
                          % (img0, ACQ[0]))
    check(len(gen) == 1 and gen[0].get_attribute("data-p") == "http://www.w3.org/ns/prov#wasGeneratedBy",
          "an edge img_0000.h5 prov:wasGeneratedBy acq-0", len(gen))
    labels = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#lineage-graph svg text.edge-label")]
    check({"used", "wasGeneratedBy", "wasDerivedFrom", "wasInformedBy"} <= set(labels),
          "edges are labelled with the four predicates", sorted(set(labels)))
    acq_label = d.find_element(By.CSS_SELECTOR, '#lineage-graph svg g.node[data-iri="%s"] text.label' % ACQ[0])
    check(acq_label.text == "acq-0", "a task is labelled with its id", acq_label.text)
    info = d.find_element(By.ID, "lineage-info").text
    check("nodes" in info and "edges" in info and "capped" not in info,
          "the view says how many nodes and edges (not capped)", info)
    screenshot("web-lineage.png")

    # clicking a node re-centres the graph on it
    d.find_element(By.CSS_SELECTOR, '#lineage-graph svg g.node[data-iri="%s"]' % ACQ[0]).click()
    res = wait(lambda d: graph_done(d, ACQ[0]), "the graph re-centres on acq-0", timeout=90)
    if res == "done":
        nodes = graph_nodes(d)
        check(nodes.get(ACQ[0]) == ("activity", 0) and nodes.get(img0, ("", 0))[1] == 1,
              "re-centred on acq-0: its image is 1 hop downstream", (nodes.get(ACQ[0]), nodes.get(img0)))
    # /?lineage=IRI (the resource pages link to it) opens the view directly
    d.get(S["srv"].http + "?lineage=" + urllib.parse.quote(model, safe="") + "&dir=up&depth=2")
    res = wait(lambda d: graph_done(d, model), "/?lineage= draws the graph", timeout=90)
    if res == "done":
        nodes = graph_nodes(d)
        check(all(v[1] <= 0 for v in nodes.values()) and min(v[1] for v in nodes.values()) == -2,
              "/?lineage=IRI&dir=up&depth=2: upstream only, 2 hops", sorted(set(v[1] for v in nodes.values())))
    d.find_element(By.ID, "tab-query").click()


def section_e_syntax_error():
    d = S["driver"]
    ed = d.find_element(By.ID, "editor")
    ed.clear()
    ed.send_keys("SELECT * WHERE {\n  ?s ?p\n}")
    ed.send_keys(Keys.CONTROL, Keys.ENTER)
    err = wait(lambda d: d.find_element(By.ID, "query-error").text
               if d.find_element(By.ID, "query-error").is_displayed() else None,
               "the error is shown")
    check(err and "400" in err and "syntax error" in err and "line 3" in err,
          "Ctrl+Enter runs; a syntax error shows the server's 400 message", err)
    check(d.find_element(By.ID, "result-table").get_attribute("data-state") == "error"
          and not d.find_elements(By.CSS_SELECTOR, "#result-table tbody tr"),
          "no stale rows are left in the table")
    # a feature the engine lacks: 501, with its message
    ed.clear()
    ed.send_keys("PREFIX prov: <http://www.w3.org/ns/prov#> SELECT * WHERE { ?a prov:used+ ?b }")
    d.find_element(By.ID, "run").click()
    err = wait(lambda d: (lambda t: t if "501" in t else None)(d.find_element(By.ID, "query-error").text),
               "the 501 is shown")
    check(err and "property paths" in err, "an unsupported feature shows the server's 501 message", err)


def run_editor(text):
    d = S["driver"]
    js("document.getElementById('editor').value = arguments[0]", text)
    d.find_element(By.ID, "run").click()
    return wait(lambda d: d.find_element(By.ID, "result-table").get_attribute("data-state")
                in ("done", "error") or None, "the answer to " + text.split("\n")[-1])


def section_e2_ask_construct():
    d = S["driver"]
    pre = "PREFIX mida: <https://w3id.org/mida/ns#>\n"
    run_editor(pre + "ASK { ?t a mida:Task }")
    b = d.find_elements(By.CSS_SELECTOR, "#result-table p.boolean")
    check(b and b[0].text == "true", "ASK shows its boolean", b and b[0].text)
    run_editor(pre + "CONSTRUCT { ?t mida:activityId ?a } WHERE { ?t mida:activityId ?a "
               "FILTER(?a = \"acquire_image\") }")
    rows = table_rows(d) or []
    info = d.find_element(By.ID, "result-info").text
    check(len(rows) == 3 and info.startswith("CONSTRUCT · 3 triples"),
          "CONSTRUCT shows its triples in the table", (len(rows), info))
    d.find_element(By.ID, "tab-raw").click()
    raw = wait(lambda d: d.find_element(By.ID, "raw").text
               if d.find_element(By.ID, "raw").get_attribute("data-state") == "done" else None,
               "the raw Turtle appears")
    check(raw and "@prefix mida:" in raw and "acquire_image" in raw,
          "CONSTRUCT shows Turtle in the Raw tab", (raw or "")[:200])
    d.find_element(By.ID, "tab-table").click()


def section_f_console():
    entries = S["driver"].get_log("browser")
    expected = [e for e in entries if e.get("source") == "network" and "/sparql" in e.get("message", "")
                and (" 400 " in e["message"] or " 501 " in e["message"])]
    errors = [e for e in entries if e.get("level") == "SEVERE" and e not in expected]
    print("     console: %d entries, %d of them the provoked 400/501" % (len(entries), len(expected)))
    check(expected, "the console log is read (it has the 400 provoked on purpose)", entries)
    check(not errors, "no errors in the browser console", errors)
    for e in entries:
        if e not in expected:
            print("     console: %s %s" % (e.get("level"), e.get("message")), flush=True)


def teardown():
    """Quits the browser while mida serve still runs."""
    if S["driver"]:
        S["driver"].quit()
        S["driver"] = None


def needs_browser(fn):
    def section():
        if not S["driver"]:
            check(False, fn.__name__ + ": no browser (setup failed)")
            return
        fn()
    section.__name__ = fn.__name__
    return section


def main():
    t0 = time.time()
    # a SIGTERM (ctest's timeout) still stops mida serve and quits the
    # browser, through the harness's and this finally clause
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sections = [section_a_page_loads, section_b_run_example, section_c_raw, section_d_lineage,
                section_e_syntax_error, section_e2_ask_construct, section_f_console]
    try:
        rc = H.run([setup] + [needs_browser(f) for f in sections] + [teardown])
    finally:
        if S["driver"]:
            S["driver"].quit()
        if S["profile"]:
            shutil.rmtree(S["profile"], ignore_errors=True)
    print("     took %.1f s" % (time.time() - t0), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
