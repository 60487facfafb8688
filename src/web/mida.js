/* mida's query page: the example queries of queries/, a SPARQL editor, the
 * answers as a table or raw, and a lineage graph drawn as inline SVG.
 * Plain browser JavaScript, no library, no network access beyond this
 * server: /queries, /sparql, /status, /resource (docs/web.md). */
(function () {
  'use strict';

  var NS = [
    ['prov', 'http://www.w3.org/ns/prov#'],
    ['provone', 'http://purl.dataone.org/provone/2015/01/15/ontology#'],
    ['mida', 'https://w3id.org/mida/ns#'],
    ['xsd', 'http://www.w3.org/2001/XMLSchema#'],
    ['rdf', 'http://www.w3.org/1999/02/22-rdf-syntax-ns#'],
    ['rdfs', 'http://www.w3.org/2000/01/rdf-schema#'],
    ['owl', 'http://www.w3.org/2002/07/owl#'],
    ['dcterms', 'http://purl.org/dc/terms/']
  ];
  var P = {};
  NS.forEach(function (n) { P[n[0]] = n[1]; });
  var PREFIX_DECLS = NS.map(function (n) { return 'PREFIX ' + n[0] + ': <' + n[1] + '>'; }).join('\n') + '\n';

  var MAX_TABLE_ROWS = 1000;    /* rows drawn at first; a button draws the rest */
  var NODE_CAP = 200;           /* nodes in a lineage graph */
  var CHUNK = 40;               /* IRIs per lineage query */
  var LINEAGE_PREDS = ['used', 'wasGeneratedBy', 'wasDerivedFrom', 'wasInformedBy'];
  var GRAPH_TYPES = {
    'text/turtle': 1, 'application/n-triples': 1, 'application/ld+json': 1, 'application/rdf+xml': 1
  };

  var state = {
    base: null,        /* base of minted IRIs, once known */
    examples: [],
    current: null,     /* the example loaded in the editor, while unchanged */
    run: null,         /* the last query run: {query, form, texts: {accept: text}} */
    runAbort: null,
    lineageAbort: null,
    statusTimer: 0
  };

  function $(id) { return document.getElementById(id); }

  /* el('a', {href: x, class: 'y'}, child, 'text', ...) */
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') e.textContent = v;
        else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function sv(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  function fmtInt(n) { return Number(n).toLocaleString('en-US'); }
  function plural(n, one, many) { return fmtInt(n) + ' ' + (n === 1 ? one : many || one + 's'); }
  function fmtMs(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(2) + ' s'; }

  /* ---- IRIs ------------------------------------------------------------ */

  function shortIri(iri) {
    for (var i = 0; i < NS.length; i++) {
      var ns = NS[i][1];
      if (iri.length > ns.length && iri.lastIndexOf(ns, 0) === 0 && !/[\/#?]/.test(iri.slice(ns.length)))
        return NS[i][0] + ':' + iri.slice(ns.length);
    }
    if (state.base && iri.length > state.base.length + 1 && iri.lastIndexOf(state.base + '/', 0) === 0)
      return ':' + iri.slice(state.base.length + 1);
    return iri;
  }

  function isVocabulary(iri) {
    return NS.some(function (n) { return iri.lastIndexOf(n[1], 0) === 0; });
  }

  /* Where a browser reads about an IRI: itself when it is on this server,
   * else the server's description of it. */
  function resourceHref(iri) {
    var origin = window.location.origin + '/';
    if (iri.lastIndexOf(origin, 0) === 0) return iri;
    return '/resource?iri=' + encodeURIComponent(iri);
  }

  function lastSegment(iri) {
    var s = iri.replace(/[\/#]+$/, '');
    var cut = Math.max(s.lastIndexOf('/'), s.lastIndexOf('#'));
    s = s.slice(cut + 1);
    try { s = decodeURIComponent(s); } catch (e) { /* keep it encoded */ }
    var slash = s.replace(/\/+$/, '').lastIndexOf('/');
    return slash >= 0 && slash < s.length - 1 ? s.slice(slash + 1) : (s || iri);
  }

  /* An IRI typed by the user: <...>, a prefixed name, or a plain IRI. */
  function parseIriInput(text) {
    var s = text.trim();
    if (s[0] === '<' && s[s.length - 1] === '>') s = s.slice(1, -1).trim();
    var m = /^([A-Za-z][\w.-]*)?:([^\/].*)?$/.exec(s);
    if (m && !/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
      if (m[1] && P[m[1]]) s = P[m[1]] + (m[2] || '');
      else if (!m[1] && state.base) s = state.base + '/' + (m[2] || '');
    }
    if (!s) throw new Error('enter the IRI of an entity or a task');
    if (/[\s<>"{}|\\^`]/.test(s)) throw new Error('not an IRI (spaces or <>"{}|\\^` are not allowed): ' + s);
    if (!/^[a-z][a-z0-9+.-]*:/i.test(s)) throw new Error('not an absolute IRI: ' + s);
    return s;
  }

  /* ---- the server ------------------------------------------------------ */

  function HttpError(status, statusText, message) {
    this.status = status;
    this.statusText = statusText;
    this.message = message;
  }

  var REASONS = {
    400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 406: 'Not Acceptable',
    413: 'Payload Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error',
    501: 'Not Implemented', 503: 'Service Unavailable'
  };

  function sparql(query, accept, signal) {
    var body = new URLSearchParams();
    body.set('query', query);
    return fetch('/sparql', {
      method: 'POST',
      headers: { 'Accept': accept },
      body: body,
      signal: signal,
      cache: 'no-store'
    }).then(function (r) {
      return r.text().then(function (text) {
        if (!r.ok) throw new HttpError(r.status, r.statusText || REASONS[r.status] || '', text.trim());
        return { text: text, type: (r.headers.get('Content-Type') || '').split(';')[0] };
      });
    });
  }

  function sparqlRows(query, signal) {
    return sparql(query, 'application/sparql-results+json', signal).then(function (r) {
      return JSON.parse(r.text).results.bindings;
    });
  }

  function showError(box, err) {
    box.textContent = '';
    if (!err) { box.hidden = true; return; }
    if (err instanceof HttpError) {
      box.appendChild(el('strong', { text: err.status + ' ' + err.statusText }));
      box.appendChild(el('pre', { text: err.message || '(no message)' }));
    } else {
      box.appendChild(el('strong', { text: 'Error' }));
      box.appendChild(el('pre', { text: String(err && err.message || err) }));
    }
    box.hidden = false;
  }

  /* SELECT, ASK, CONSTRUCT or DESCRIBE: the first of those keywords outside
   * IRIs, strings and comments. */
  function queryForm(q) {
    var s = q.replace(/<[^<>\s]*>/g, ' ')
      .replace(/"""[\s\S]*?"""|'''[\s\S]*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, ' ')
      .replace(/#[^\n]*/g, ' ');
    var m = /\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b/i.exec(s);
    return m ? m[1].toUpperCase() : 'SELECT';
  }

  /* ---- tabs ------------------------------------------------------------ */

  function setupTabs(tabs, onShow) {
    function show(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute('aria-selected', on ? 'true' : 'false');
        t.tabIndex = on ? 0 : -1;
        $(t.getAttribute('aria-controls')).hidden = !on;
      });
      if (focus) tab.focus();
      if (onShow) onShow(tab);
    }
    tabs.forEach(function (t, i) {
      t.addEventListener('click', function () { show(t, false); });
      t.addEventListener('keydown', function (e) {
        var j = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 :
          e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : null;
        if (j === null) return;
        e.preventDefault();
        show(tabs[(j + tabs.length) % tabs.length], true);
      });
    });
    return show;
  }

  var showView, showResultPane;

  /* ---- status ---------------------------------------------------------- */

  function refreshStatus() {
    clearTimeout(state.statusTimer);
    if (document.hidden) { state.statusTimer = setTimeout(refreshStatus, 5000); return; }
    var box = $('store-status');
    fetch('/status', { cache: 'no-store', headers: { 'Accept': 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('/status answered ' + r.status);
        return r.json();
      })
      .then(function (s) {
        var parts = [];
        if (typeof s.store_triples === 'number') parts.push(fmtInt(s.store_triples) + ' triples');
        if (s.received > s.applied) parts.push(fmtInt(s.received - s.applied) + ' batches pending');
        if (s.refused) parts.push(fmtInt(s.refused) + ' refused');
        box.textContent = parts.join(' · ') || 'running';
        box.classList.remove('bad');
        box.title = 'received ' + s.received + ' batches, applied ' + s.applied +
          (s.http ? ', ' + s.http.queries + ' queries answered' : '') + ' (/status, every 5 s)';
        if (typeof s.base === 'string' && s.base) state.base = s.base.replace(/\/+$/, '');
        else if (!state.base && s.store_triples > 0) ensureBase();
      })
      .catch(function (e) {
        box.textContent = 'server unreachable';
        box.title = String(e && e.message || e);
        box.classList.add('bad');
      })
      .then(function () { state.statusTimer = setTimeout(refreshStatus, 5000); });
  }

  /* The base of minted IRIs, from a workflow run's or campaign's IRI
   * (B/workflow/{id}, B/campaign/{id}); used to shorten IRIs to ":path".
   * Never fails: on an empty or busy store it stays unknown for now. */
  var discovering = null;
  function ensureBase() {
    if (state.base) return Promise.resolve(state.base);
    if (discovering) return discovering;
    discovering = sparqlRows(PREFIX_DECLS +
        'SELECT ?r WHERE { { ?r a mida:WorkflowRun } UNION { ?r a mida:Campaign } } LIMIT 1')
      .then(function (rows) {
        var m = rows.length && rows[0].r && /^(.*)\/(?:workflow|campaign)\/[^\/]+$/.exec(rows[0].r.value);
        if (m && !state.base) state.base = m[1];
      })
      .catch(function () { /* tried again next time */ })
      .then(function () { discovering = null; return state.base; });
    return discovering;
  }

  /* ---- example queries ------------------------------------------------- */

  function loadExamples() {
    var list = $('examples'), note = $('examples-state');
    return fetch('/queries', { headers: { 'Accept': 'application/json' } })
      .then(function (r) {
        if (!r.ok) return r.text().then(function (t) { throw new HttpError(r.status, r.statusText, t); });
        return r.json();
      })
      .then(function (qs) {
        state.examples = qs;
        list.textContent = '';
        qs.forEach(function (q) {
          list.appendChild(el('li', null, el('button', {
            type: 'button', 'data-name': q.name, title: q.title || q.name,
            onclick: function () { chooseExample(q.name); },
            ondblclick: function () { chooseExample(q.name); runQuery(); }
          }, el('span', { class: 'ex-name', text: q.name }),
          el('span', { class: 'ex-title', text: q.title || '' }))));
        });
        note.textContent = qs.length ? qs.length + ' from queries/; click to load, double-click to run'
          : 'none: queries/ has no .rq files';
      })
      .catch(function (e) {
        note.textContent = 'could not load the examples: ' +
          (e instanceof HttpError ? e.status + ' ' + e.message : e.message || e);
        note.classList.add('bad');
      });
  }

  function chooseExample(name) {
    var q = state.examples.filter(function (x) { return x.name === name; })[0];
    if (!q) return false;
    $('editor').value = q.query;
    state.current = q;
    Array.prototype.forEach.call($('examples').querySelectorAll('button'), function (b) {
      if (b.getAttribute('data-name') === name) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    });
    return true;
  }

  /* ---- running a query ------------------------------------------------- */

  function runQuery() {
    var query = $('editor').value;
    var form = queryForm(query);
    var graph = form === 'CONSTRUCT' || form === 'DESCRIBE';
    var accept = graph ? 'application/n-triples' : 'application/sparql-results+json';
    if (state.runAbort) state.runAbort.abort();
    var ctl = new AbortController();
    state.runAbort = ctl;
    var info = $('result-info'), table = $('result-table'), runBtn = $('run');
    showError($('query-error'), null);
    info.textContent = 'running…';
    table.setAttribute('data-state', 'running');
    runBtn.disabled = true;
    var t0 = performance.now();
    state.run = { query: query, form: form, texts: {}, accept: accept, pending: true };
    var run = state.run;
    if (!$('pane-raw').hidden) showRaw();
    return ensureBase().then(function () {
      return sparql(query, accept, ctl.signal);
    }).then(function (r) {
      run.texts[accept] = r.text;
      run.pending = false;
      var ms = performance.now() - t0;
      table.textContent = '';
      if (graph) {
        var triples = parseNTriples(r.text);
        renderTable(table, ['subject', 'predicate', 'object'], triples.map(function (t) {
          return { subject: t[0], predicate: t[1], object: t[2] };
        }));
        info.textContent = form + ' · ' + plural(triples.length, 'triple') +
          ' · ' + fmtMs(ms) + ' (Raw shows them as Turtle)';
      } else {
        var json = JSON.parse(r.text);
        if (typeof json.boolean === 'boolean') {
          table.appendChild(el('p', { class: 'boolean ' + json.boolean, text: String(json.boolean) }));
          info.textContent = 'ASK · ' + fmtMs(ms);
        } else {
          var rows = json.results.bindings;
          renderTable(table, json.head.vars || [], rows);
          info.textContent = plural(rows.length, 'row') + ' · ' + fmtMs(ms);
        }
      }
      table.setAttribute('data-state', 'done');
      if (!$('pane-raw').hidden) showRaw();
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      run.pending = false;
      run.error = e;
      table.textContent = '';
      table.setAttribute('data-state', 'error');
      info.textContent = 'failed after ' + fmtMs(performance.now() - t0);
      showError($('query-error'), e);
      if (!$('pane-raw').hidden) showRaw();
      var m = e instanceof HttpError && /\bline (\d+)/.exec(e.message);
      if (m) selectLine($('editor'), parseInt(m[1], 10));
    }).then(function () {
      if (state.runAbort === ctl) { state.runAbort = null; runBtn.disabled = false; }
    });
  }

  function selectLine(ta, n) {
    var lines = ta.value.split('\n');
    if (n < 1 || n > lines.length) return;
    var start = 0;
    for (var i = 0; i < n - 1; i++) start += lines[i].length + 1;
    ta.focus();
    ta.setSelectionRange(start, start + lines[n - 1].length);
  }

  function rawAccept() {
    var f = $('raw-format').value;
    if (f !== 'auto') return f;
    var form = state.run ? state.run.form : 'SELECT';
    return form === 'CONSTRUCT' || form === 'DESCRIBE' ? 'text/turtle' : 'application/sparql-results+json';
  }

  /* The raw tab: the answer in the chosen format, asked for when first shown. */
  function showRaw() {
    var pre = $('raw'), info = $('raw-info'), run = state.run;
    if (!run) { pre.textContent = ''; info.textContent = 'no query run yet'; return; }
    if (run.error) {
      info.textContent = 'the query failed (see the message under the editor)';
      pre.textContent = run.error.message || String(run.error);
      pre.setAttribute('data-state', 'error');
      return;
    }
    var accept = rawAccept();
    if (run.pending && accept === run.accept) {
      pre.textContent = '';
      info.textContent = 'running…';
      pre.setAttribute('data-state', 'running');
      return;
    }
    var graphForm = run.form === 'CONSTRUCT' || run.form === 'DESCRIBE';
    if (GRAPH_TYPES[accept] && !graphForm || !GRAPH_TYPES[accept] && graphForm) {
      pre.textContent = '';
      info.textContent = accept + ' is not a format for a ' + run.form + ' answer; choose another raw format';
      pre.setAttribute('data-state', 'error');
      return;
    }
    if (run.texts[accept] !== undefined) {
      pre.textContent = run.texts[accept];
      info.textContent = accept + ' · ' + fmtInt(run.texts[accept].length) + ' characters';
      pre.setAttribute('data-state', 'done');
      return;
    }
    pre.textContent = '';
    info.textContent = 'asking for ' + accept + '…';
    pre.setAttribute('data-state', 'running');
    sparql(run.query, accept).then(function (r) {
      run.texts[accept] = r.text;
      if (state.run === run && rawAccept() === accept) showRaw();
    }).catch(function (e) {
      if (state.run !== run) return;
      info.textContent = e instanceof HttpError ? accept + ': ' + e.status + ' ' + e.statusText : 'failed';
      pre.textContent = e.message || String(e);
      pre.setAttribute('data-state', 'error');
    });
  }

  /* ---- tables ---------------------------------------------------------- */

  var NUMERIC = /#(integer|decimal|double|float|long|int|short|byte|nonNegativeInteger|positiveInteger|unsignedLong|unsignedInt)$/;

  function termCell(t) {
    var td = el('td');
    if (!t) { td.className = 'unbound'; return td; }
    if (t.type === 'uri') {
      td.className = 'iri';
      td.appendChild(el('a', { href: resourceHref(t.value), title: t.value, text: middleCut(shortIri(t.value), 36) }));
      if (!isVocabulary(t.value))
        td.appendChild(el('button', {
          type: 'button', class: 'lin', 'data-iri': t.value, title: 'draw the lineage of ' + t.value,
          'aria-label': 'lineage of ' + shortIri(t.value), text: 'lineage',
          onclick: function () { openLineage(t.value); }
        }));
    } else if (t.type === 'bnode') {
      td.className = 'bnode';
      td.textContent = '_:' + t.value;
    } else {
      var dt = t.datatype || '';
      td.className = 'literal' + (NUMERIC.test(dt) ? ' num' : '');
      td.textContent = t.value;
      td.title = t['xml:lang'] ? '"' + t.value + '"@' + t['xml:lang'] :
        dt ? '"' + t.value + '"^^' + shortIri(dt) : '"' + t.value + '"';
    }
    return td;
  }

  function renderTable(box, vars, rows) {
    box.textContent = '';
    if (!rows.length) {
      box.appendChild(el('p', { class: 'empty', text: 'no rows' }));
      return;
    }
    var tbody = el('tbody');
    var htr = el('tr', null, el('th', { class: 'rownum', scope: 'col', text: '#' }));
    vars.forEach(function (v) { htr.appendChild(el('th', { scope: 'col', text: v })); });
    var table = el('table', { class: 'results-table' }, el('thead', null, htr), tbody);
    function draw(from, to) {
      var frag = document.createDocumentFragment();
      for (var i = from; i < to; i++) {
        var tr = el('tr', null, el('td', { class: 'rownum', text: String(i + 1) }));
        for (var j = 0; j < vars.length; j++) tr.appendChild(termCell(rows[i][vars[j]]));
        frag.appendChild(tr);
      }
      tbody.appendChild(frag);
    }
    var first = Math.min(rows.length, MAX_TABLE_ROWS);
    draw(0, first);
    box.appendChild(table);
    if (first < rows.length) {
      var more = el('button', {
        type: 'button', class: 'more', text: 'show all ' + fmtInt(rows.length) + ' rows',
        onclick: function () { more.remove(); draw(first, rows.length); }
      });
      box.appendChild(more);
    }
  }

  /* N-Triples (as /sparql writes them) to [s, p, o] in the JSON results'
   * term form. */
  function unescapeNT(s) {
    return s.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/g, function (m, c) {
      if (c[0] === 'u' || c[0] === 'U') return String.fromCodePoint(parseInt(c.slice(1), 16));
      return { t: '\t', b: '\b', n: '\n', r: '\r', f: '\f' }[c] || c;
    });
  }
  var NT_TERM = /\s*(?:<([^>]*)>|_:(\S+)|"((?:[^"\\]|\\.)*)"(?:\^\^<([^>]*)>|@([A-Za-z0-9-]+))?)/y;
  function parseNTriples(text) {
    var out = [];
    text.split('\n').forEach(function (line) {
      if (!line.trim() || /^\s*#/.test(line)) return;
      var terms = [];
      NT_TERM.lastIndex = 0;
      for (var k = 0; k < 3; k++) {
        var m = NT_TERM.exec(line);
        if (!m) return;
        if (m[1] !== undefined) terms.push({ type: 'uri', value: unescapeNT(m[1]) });
        else if (m[2] !== undefined) terms.push({ type: 'bnode', value: m[2] });
        else {
          var t = { type: 'literal', value: unescapeNT(m[3]) };
          if (m[4]) t.datatype = m[4];
          if (m[5]) t['xml:lang'] = m[5];
          terms.push(t);
        }
      }
      out.push(terms);
    });
    return out;
  }

  /* ---- lineage --------------------------------------------------------- */

  function openLineage(iri) {
    $('lineage-iri').value = iri;
    showView($('tab-lineage'));
    drawLineage();
  }

  function valuesBlock(v, iris) {
    return 'VALUES (?' + v + ') { ' + iris.map(function (i) { return '(<' + i + '>)'; }).join(' ') + ' }';
  }

  function chunks(list) {
    var out = [];
    for (var i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
    return out;
  }

  /* One hop from each IRI of `frontier`: upstream, the objects of the four
   * relations with it as subject; downstream, their subjects with it as
   * object.  No property paths: rasqal has none. */
  function hopQuery(frontier, dir, withValues) {
    var pattern = dir === 'up' ? '?x ?p ?y .' : '?y ?p ?x .';
    return PREFIX_DECLS + 'SELECT ?x ?p ?y WHERE {\n  ' + valuesBlock('x', frontier) + '\n  ' + pattern +
      '\n  FILTER(?p IN (' + LINEAGE_PREDS.map(function (p) { return 'prov:' + p; }).join(', ') + ') && isIRI(?y))' +
      (withValues ? '' : '\n  OPTIONAL { ?y a ?vt . FILTER(?vt = mida:Value) }\n  FILTER(!BOUND(?vt))') +
      '\n}';
  }

  var DESCRIBE_PREDS = {};
  DESCRIBE_PREDS[P.rdf + 'type'] = 'types';
  DESCRIBE_PREDS[P.rdfs + 'label'] = 'label';
  DESCRIBE_PREDS[P.mida + 'name'] = 'name';
  DESCRIBE_PREDS[P.prov + 'value'] = 'value';
  DESCRIBE_PREDS[P.prov + 'atLocation'] = 'location';
  DESCRIBE_PREDS[P.mida + 'activityId'] = 'activityId';
  DESCRIBE_PREDS[P.mida + 'workflowName'] = 'workflowName';
  DESCRIBE_PREDS[P.mida + 'status'] = 'status';

  function describeQuery(iris) {
    return PREFIX_DECLS + 'SELECT ?n ?k ?v WHERE {\n  ' + valuesBlock('n', iris) + '\n  ?n ?k ?v .\n  FILTER(?k IN (' +
      Object.keys(DESCRIBE_PREDS).map(shortIri).join(', ') + '))\n}';
  }

  function seq(items, fn) {
    return items.reduce(function (p, item) { return p.then(function () { return fn(item); }); }, Promise.resolve());
  }

  function walkLineage(root, dir, depth, withValues, signal) {
    var g = { root: root, nodes: new Map(), edges: new Map(), capped: false, queries: 0 };
    g.nodes.set(root, { iri: root, dist: 0, kinds: {}, info: { types: [] } });
    function describe(iris) {
      return seq(chunks(iris), function (part) {
        g.queries++;
        return sparqlRows(describeQuery(part), signal).then(function (rows) {
          rows.forEach(function (r) {
            var n = g.nodes.get(r.n.value), k = DESCRIBE_PREDS[r.k.value];
            if (!n || !k) return;
            if (k === 'types') n.info.types.push(r.v.value);
            else if (n.info[k] === undefined) n.info[k] = r.v.value;
          });
        });
      });
    }
    function hop(dir, frontier, h) {
      if (!frontier.length || h > depth || g.capped) return Promise.resolve();
      var fresh = [];
      return seq(chunks(frontier), function (part) {
        g.queries++;
        return sparqlRows(hopQuery(part, dir, withValues), signal).then(function (rows) {
          rows.forEach(function (r) {
            var x = r.x.value, p = r.p.value, y = r.y.value;
            if (!g.nodes.has(y)) {
              if (g.nodes.size >= NODE_CAP) { g.capped = true; return; }
              g.nodes.set(y, { iri: y, dist: dir === 'up' ? -h : h, kinds: {}, info: { types: [] } });
              fresh.push(y);
            }
            var s = dir === 'up' ? x : y, o = dir === 'up' ? y : x;
            var key = s + ' ' + p + ' ' + o;
            if (!g.edges.has(key)) g.edges.set(key, { s: s, p: p, o: o });
            /* what the relation says about each end */
            var local = p.slice(P.prov.length);
            var sk = local === 'wasGeneratedBy' || local === 'wasDerivedFrom' ? 'entity' : 'activity';
            var ok = local === 'used' || local === 'wasDerivedFrom' ? 'entity' : 'activity';
            g.nodes.get(s).kinds[sk] = true;
            g.nodes.get(o).kinds[ok] = true;
          });
        });
      }).then(function () { return describe(fresh); })
        .then(function () { return hop(dir, fresh, h + 1); });
    }
    var dirs = dir === 'both' ? ['up', 'down'] : [dir];
    return describe([root])
      .then(function () { return seq(dirs, function (d) { return hop(d, [root], 1); }); })
      .then(function () { g.nodes.forEach(classify); return g; });
  }

  function classify(n) {
    var t = {};
    n.info.types.forEach(function (x) { t[x] = true; });
    if (t[P.prov + 'Activity'] || t[P.provone + 'Execution'] || n.kinds.activity && !n.kinds.entity)
      n.kind = 'activity';
    else if (t[P.mida + 'Value']) n.kind = 'value';
    else if (t[P.provone + 'Data']) n.kind = 'data';
    else n.kind = 'entity';
    var i = n.info;
    if (n.kind === 'value') {
      n.label = (i.label || i.name || lastSegment(n.iri)) + (i.value !== undefined ? ' = ' + i.value : '');
      n.sub = /\/generated\//.test(n.iri) ? 'generated value' : 'used value';
    } else if (n.kind === 'data') {
      n.label = i.label || i.name || (i.location ? lastSegment(i.location) : lastSegment(n.iri));
      n.sub = i.location || 'data';
    } else if (n.kind === 'activity') {
      if (t[P.mida + 'WorkflowRun']) {
        n.label = i.label || i.workflowName || lastSegment(n.iri);
        n.sub = 'workflow run ' + lastSegment(n.iri);
      } else if (t[P.mida + 'Campaign']) {
        n.label = i.label || lastSegment(n.iri);
        n.sub = 'campaign';
      } else {
        n.label = i.label || i.name || lastSegment(n.iri);
        n.sub = (i.activityId || 'activity') + (i.status ? ' · ' + lastSegment(i.status) : '');
      }
    } else {
      n.label = i.label || i.name || lastSegment(n.iri);
      n.sub = n.info.types.length ? shortIri(n.info.types[0]) : 'entity';
    }
  }

  function drawLineage() {
    var box = $('lineage-graph'), info = $('lineage-info'), errBox = $('lineage-error');
    showError(errBox, null);
    var root;
    try {
      root = parseIriInput($('lineage-iri').value);
    } catch (e) {
      showError(errBox, e);
      box.setAttribute('data-state', 'error');
      $('lineage-iri').focus();
      return Promise.resolve();
    }
    var dir = $('lineage-dir').value;
    var depth = Math.max(1, Math.min(12, parseInt($('lineage-depth').value, 10) || 3));
    $('lineage-depth').value = depth;
    var withValues = $('lineage-values').checked;
    if (state.lineageAbort) state.lineageAbort.abort();
    var ctl = new AbortController();
    state.lineageAbort = ctl;
    var url = new URL(window.location.href);
    url.search = '';
    url.searchParams.set('lineage', root);
    url.searchParams.set('dir', dir);
    url.searchParams.set('depth', depth);
    window.history.replaceState(null, '', url.pathname + url.search);
    info.textContent = 'walking the graph…';
    box.setAttribute('data-state', 'running');
    var t0 = performance.now();
    return ensureBase().then(function () {
      return walkLineage(root, dir, depth, withValues, ctl.signal);
    }).then(function (g) {
      if (state.lineageAbort !== ctl) return;
      state.graph = g;
      renderGraph(box, g);
      renderNodeTable(g);
      var msg = plural(g.nodes.size, 'node') + ', ' + plural(g.edges.size, 'edge') + ' · ' +
        plural(g.queries, 'query', 'queries') + ' · ' + fmtMs(performance.now() - t0);
      info.textContent = msg;
      if (g.capped) {
        info.appendChild(el('strong', {
          class: 'warn', text: ' — capped at ' + NODE_CAP + ' nodes: the graph goes on beyond what is drawn; ' +
            'lower the depth, pick one direction or leave out values'
        }));
      }
      var root = g.nodes.get(g.root);
      if (!g.edges.size && !root.info.types.length && root.info.name === undefined && root.info.location === undefined)
        info.appendChild(el('strong', { class: 'warn', text: ' — nothing is known about this IRI' }));
      box.setAttribute('data-state', 'done');
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      info.textContent = 'failed after ' + fmtMs(performance.now() - t0);
      showError(errBox, e);
      box.setAttribute('data-state', 'error');
    }).then(function () {
      if (state.lineageAbort === ctl) state.lineageAbort = null;
    });
  }

  var NODE_W = 184, NODE_H = 42, COL_W = 270, ROW_H = 56, PAD = 24;

  /* Long IRIs keep their start and their end, where the file name is. */
  function middleCut(s, n) {
    if (s.length <= n) return s;
    var tail = Math.ceil((n - 1) * 0.6);
    return s.slice(0, n - 1 - tail) + '…' + s.slice(s.length - tail);
  }

  function trunc(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  /* Layered layout: a column per hop distance (upstream left, downstream
   * right); in each column, nodes ordered by the mean position of their
   * neighbours nearer the root (barycentre), ties by label. */
  function layout(g) {
    var cols = new Map();
    g.nodes.forEach(function (n) {
      if (!cols.has(n.dist)) cols.set(n.dist, []);
      cols.get(n.dist).push(n);
    });
    var dists = Array.from(cols.keys()).sort(function (a, b) { return a - b; });
    var minD = dists[0];
    var nbrs = new Map();
    g.edges.forEach(function (e) {
      [[e.s, e.o], [e.o, e.s]].forEach(function (pr) {
        if (!nbrs.has(pr[0])) nbrs.set(pr[0], []);
        nbrs.get(pr[0]).push(pr[1]);
      });
    });
    var maxRows = 0;
    cols.forEach(function (c) { maxRows = Math.max(maxRows, c.length); });
    var order = dists.slice().sort(function (a, b) { return Math.abs(a) - Math.abs(b) || a - b; });
    var pos = new Map();   /* iri -> row position (centred) */
    order.forEach(function (d) {
      var col = cols.get(d);
      col.forEach(function (n) {
        var ys = (nbrs.get(n.iri) || []).filter(function (m) {
          var o = g.nodes.get(m);
          return o && Math.abs(o.dist) < Math.abs(d) && pos.has(m);
        }).map(function (m) { return pos.get(m); });
        n.key = ys.length ? ys.reduce(function (a, b) { return a + b; }, 0) / ys.length : Infinity;
      });
      col.sort(function (a, b) {
        return a.key - b.key || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) ||
          (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
      });
      col.forEach(function (n, i) {
        var row = i + (maxRows - col.length) / 2;
        pos.set(n.iri, row);
        n.x = PAD + (d - minD) * COL_W;
        n.y = PAD + row * ROW_H;
      });
    });
    return {
      width: PAD * 2 + (dists[dists.length - 1] - minD) * COL_W + NODE_W,
      height: PAD * 2 + (maxRows - 1) * ROW_H + NODE_H
    };
  }

  function edgeGeometry(a, b) {
    var ay = a.y + NODE_H / 2, by = b.y + NODE_H / 2, p0, p1, p2, p3;
    if (a.x === b.x) {   /* same column: an arc on the right */
      var bulge = 50 + Math.min(120, Math.abs(by - ay) / 4);
      p0 = [a.x + NODE_W, ay]; p3 = [b.x + NODE_W, by];
      p1 = [p0[0] + bulge, ay]; p2 = [p3[0] + bulge, by];
    } else {
      var right = b.x > a.x;
      p0 = [right ? a.x + NODE_W : a.x, ay];
      p3 = [right ? b.x : b.x + NODE_W, by];
      var dx = (p3[0] - p0[0]) / 2;
      p1 = [p0[0] + dx, ay]; p2 = [p3[0] - dx, by];
    }
    var mid = [(p0[0] + 3 * p1[0] + 3 * p2[0] + p3[0]) / 8, (p0[1] + 3 * p1[1] + 3 * p2[1] + p3[1]) / 8];
    var d = 'M' + p0.join(',') + ' C' + p1.join(',') + ' ' + p2.join(',') + ' ' + p3.join(',');
    return { d: d, mid: mid };
  }

  function renderGraph(box, g) {
    var size = layout(g);
    var showLabels = $('lineage-labels').checked;
    /* fit: scaled down to the box's width, but not below half size (then it scrolls) */
    var avail = box.clientWidth - 2;
    var scale = $('lineage-fit').checked && avail > 100 ? Math.max(0.5, Math.min(1, avail / size.width)) : 1;
    var svg = sv('svg', {
      width: Math.round(size.width * scale), height: Math.round(size.height * scale),
      viewBox: '0 0 ' + size.width + ' ' + size.height, 'data-scale': scale.toFixed(3),
      class: 'lineage', role: 'group', 'aria-label': 'lineage graph of ' + g.root
    });
    var defs = sv('defs');
    LINEAGE_PREDS.forEach(function (p) {
      defs.appendChild(sv('marker', {
        id: 'arrow-' + p, viewBox: '0 0 10 10', refX: 9.5, refY: 5, markerWidth: 7, markerHeight: 7,
        orient: 'auto-start-reverse', class: 'arrow ' + p
      }, sv('path', { d: 'M0,0 L10,5 L0,10 z' })));
    });
    svg.appendChild(defs);
    var edgeLayer = sv('g', { class: 'edges' }), labelLayer = sv('g', { class: 'edge-labels' });
    g.edges.forEach(function (e) {
      var a = g.nodes.get(e.s), b = g.nodes.get(e.o), local = e.p.slice(P.prov.length);
      var geo = edgeGeometry(a, b);
      edgeLayer.appendChild(sv('path', {
        class: 'edge ' + local, d: geo.d, 'marker-end': 'url(#arrow-' + local + ')',
        'data-s': e.s, 'data-p': e.p, 'data-o': e.o
      }, sv('title', null, shortIri(e.s) + ' prov:' + local + ' ' + shortIri(e.o))));
      if (showLabels)
        labelLayer.appendChild(sv('text', { class: 'edge-label ' + local, x: geo.mid[0], y: geo.mid[1] - 3 },
          local));
    });
    svg.appendChild(edgeLayer);
    svg.appendChild(labelLayer);
    var nodeLayer = sv('g', { class: 'nodes' });
    g.nodes.forEach(function (n) {
      var isRoot = n.iri === g.root;
      var node = sv('g', {
        class: 'node ' + n.kind + (isRoot ? ' root' : ''), transform: 'translate(' + n.x + ',' + n.y + ')',
        tabindex: 0, role: 'button', 'data-iri': n.iri, 'data-kind': n.kind, 'data-dist': n.dist,
        'aria-label': n.kind + ' ' + n.label + (isRoot ? ' (centre)' : '') +
          ': Enter re-centres, Shift+Enter opens its page'
      },
      sv('title', null, n.label + '\n' + n.iri + '\n' + n.sub + '\nclick: re-centre · shift+click: open its page'),
      sv('rect', { width: NODE_W, height: NODE_H, rx: n.kind === 'activity' ? 3 : 18 }),
      sv('text', { class: 'label', x: NODE_W / 2, y: 17 }, trunc(n.label, 26)),
      sv('text', { class: 'sub', x: NODE_W / 2, y: 32 }, trunc(n.sub, 32)));
      function go(e) {
        if (e.shiftKey || e.ctrlKey || e.metaKey) window.open(resourceHref(n.iri), '_blank', 'noopener');
        else openLineage(n.iri);
      }
      node.addEventListener('click', go);
      node.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(e); }
      });
      nodeLayer.appendChild(node);
    });
    svg.appendChild(nodeLayer);
    box.textContent = '';
    box.appendChild(svg);
    /* the centre in view */
    var r = g.nodes.get(g.root);
    box.scrollTop = Math.max(0, (r.y + NODE_H / 2) * scale - box.clientHeight / 2);
    box.scrollLeft = Math.max(0, (r.x + NODE_W / 2) * scale - box.clientWidth / 2);
  }

  function renderNodeTable(g) {
    var rows = Array.from(g.nodes.values()).sort(function (a, b) {
      return a.dist - b.dist || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
    });
    var tbody = el('tbody');
    rows.forEach(function (n) {
      tbody.appendChild(el('tr', null,
        el('td', { class: 'num', text: String(n.dist) }),
        el('td', { text: n.kind }),
        el('td', { text: n.label }),
        termCell({ type: 'uri', value: n.iri })));
    });
    var box = $('lineage-nodes');
    box.textContent = '';
    box.appendChild(el('table', { class: 'results-table' },
      el('thead', null, el('tr', null, el('th', { text: 'hop', title: 'negative: upstream' }),
        el('th', { text: 'kind' }), el('th', { text: 'label' }), el('th', { text: 'IRI' }))), tbody));
  }

  /* ---- start ----------------------------------------------------------- */

  function start() {
    showView = setupTabs([$('tab-query'), $('tab-lineage')], function (tab) {
      if (tab.id === 'tab-lineage' && !$('lineage-iri').value) $('lineage-iri').focus();
    });
    showResultPane = setupTabs([$('tab-table'), $('tab-raw')], function (tab) {
      if (tab.id === 'tab-raw') showRaw();
    });
    $('run').addEventListener('click', function () { runQuery(); });
    $('view-query').addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runQuery(); }
    });
    $('editor').addEventListener('input', function () {
      if (state.current && $('editor').value !== state.current.query) {
        state.current = null;
        Array.prototype.forEach.call($('examples').querySelectorAll('[aria-current]'), function (b) {
          b.removeAttribute('aria-current');
        });
      }
    });
    $('raw-format').addEventListener('change', function () {
      if (!$('pane-raw').hidden) showRaw();
      else showResultPane($('tab-raw'));
    });
    $('lineage-form').addEventListener('submit', function (e) { e.preventDefault(); drawLineage(); });
    ['lineage-labels', 'lineage-fit'].forEach(function (id) {
      $(id).addEventListener('change', function () {
        if (state.graph) renderGraph($('lineage-graph'), state.graph);
      });
    });
    document.addEventListener('visibilitychange', function () { if (!document.hidden) refreshStatus(); });
    refreshStatus();

    var params = new URLSearchParams(window.location.search);
    var examples = loadExamples();
    if (params.get('lineage')) {
      $('lineage-iri').value = params.get('lineage');
      if (/^(up|down|both)$/.test(params.get('dir') || '')) $('lineage-dir').value = params.get('dir');
      if (params.get('depth')) $('lineage-depth').value = params.get('depth');
      showView($('tab-lineage'));
      drawLineage();
    } else if (params.get('query')) {
      $('editor').value = params.get('query');
      runQuery();
    } else if (params.get('example')) {
      examples.then(function () { if (chooseExample(params.get('example'))) runQuery(); });
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
