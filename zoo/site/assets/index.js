// The index page: search as one types, filters, sortable columns, state in the URL (#q=...).
// Rows are never rebuilt: a filter flips `hidden` on the rows whose state changes, a sort
// moves the existing rows. Each row's facts and lowercase search text come precomputed.
// At most `data.shown` matching rows are displayed until "Show all" is pressed: the
// browser's table layout, not the filtering, is what costs time with a thousand rows.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("zoo-data").textContent);
  var rows = data.rows;
  var tbody = document.getElementById("rows");
  var trs = Array.prototype.slice.call(tbody.rows);
  var form = document.getElementById("filters");
  var search = document.getElementById("q");
  var count = document.getElementById("count");
  var empty = document.getElementById("empty");
  var table = document.getElementById("models");
  var more = document.getElementById("more");
  var order = rows.map(function (_, i) { return i; });  // display order (changed by sorting)
  var showAll = false;
  var NAMES = ["q", "group", "kind", "wrapper", "license", "commercial", "gated", "pooling", "input",
    "source", "dmin", "dmax", "rv", "sh"];
  var sortKey = "n";
  var sortDir = 1;

  function field(name) { return form.elements[name]; }

  function readState() {
    var s = {};
    NAMES.forEach(function (name) {
      var el = field(name);
      s[name] = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value.trim();
    });
    return s;
  }

  function tri(value, want) {
    if (want === "") { return true; }
    if (want === "unknown") { return value === null; }
    return value === (want === "yes");
  }

  function matcher(s) {
    var terms = s.q.toLowerCase().split(/\s+/).filter(Boolean);
    var lic = s.license === data.noLicence ? "" : s.license;
    var dmin = s.dmin === "" ? -Infinity : Number(s.dmin);
    var dmax = s.dmax === "" ? Infinity : Number(s.dmax);
    return function (r) {
      if (s.group && r.g !== s.group) { return false; }
      if (s.kind && r.k !== s.kind) { return false; }
      if (s.wrapper && r.w !== s.wrapper) { return false; }
      if (s.license && r.l !== lic) { return false; }
      if (s.pooling && r.p !== s.pooling) { return false; }
      if (s.input && r.i !== s.input) { return false; }
      if (s.source && r.src !== s.source) { return false; }
      if (!tri(r.c, s.commercial) || !tri(r.gt, s.gated)) { return false; }
      if (r.d < dmin || r.d > dmax) { return false; }
      if (s.rv && !r.rv) { return false; }
      if (s.sh && !r.sh) { return false; }
      for (var t = 0; t < terms.length; t++) {
        if (r.s.indexOf(terms[t]) < 0) { return false; }
      }
      return true;
    };
  }

  function writeHash(s) {
    var params = new URLSearchParams();
    NAMES.forEach(function (name) { if (s[name]) { params.set(name, s[name]); } });
    var hash = params.toString();
    if (hash !== location.hash.slice(1)) {
      history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    }
  }

  function countText(matched, shown) {
    if (matched === shown) { return shown + " of " + rows.length + " models"; }
    return matched + " of " + rows.length + " models match; showing the first " + shown;
  }

  function apply() {
    var s = readState();
    var ok = matcher(s);
    var matched = 0;
    var shown = 0;
    for (var k = 0; k < order.length; k++) {
      var i = order[k];
      var show = false;
      if (ok(rows[i])) {
        matched++;
        show = showAll || shown < data.shown;
      }
      if (trs[i].hidden === show) { trs[i].hidden = !show; }
      if (show) { shown++; }
    }
    count.textContent = countText(matched, shown);
    more.hidden = matched === shown;
    more.textContent = "Show all " + matched;
    empty.hidden = matched !== 0;
    writeHash(s);
    return matched;
  }

  function refilter() { showAll = false; return apply(); }

  function compare(a, b) {
    if (a === b) { return 0; }
    if (a === null || a === undefined) { return 1; }   // unknowns last, either direction
    if (b === null || b === undefined) { return -1; }
    if (typeof a === "string") { return a.localeCompare(b) * sortDir; }
    return (a < b ? -1 : 1) * sortDir;
  }

  function sortBy(key, dir) {
    sortKey = key;
    sortDir = dir;
    order.sort(function (i, j) {
      return compare(rows[i][key], rows[j][key]) || (rows[i].n < rows[j].n ? -1 : 1);
    });
    var frag = document.createDocumentFragment();
    order.forEach(function (i) { frag.appendChild(trs[i]); });
    tbody.appendChild(frag);
    apply();  // the first rows in the new order are the ones shown
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.dataset.key === key) {
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  function readHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    NAMES.forEach(function (name) {
      var el = field(name);
      var value = params.get(name) || "";
      if (el.type === "checkbox") { el.checked = value === "1"; } else { el.value = value; }
    });
  }

  var timer = 0;
  function soon() { clearTimeout(timer); timer = setTimeout(refilter, 40); }

  search.addEventListener("input", soon);
  field("dmin").addEventListener("input", soon);
  field("dmax").addEventListener("input", soon);
  form.addEventListener("change", refilter);
  form.addEventListener("submit", function (e) { e.preventDefault(); refilter(); });
  form.addEventListener("reset", function () { setTimeout(refilter, 0); });
  window.addEventListener("hashchange", function () { readHash(); refilter(); });
  more.addEventListener("click", function () {
    showAll = true;
    apply();
    table.parentNode.focus();  // the button is gone: keyboard focus goes on to the rows
  });
  table.tHead.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-key]");
    if (!button) { return; }
    var key = button.dataset.key;
    sortBy(key, key === sortKey ? -sortDir : 1);
  });
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      search.focus();
      search.select();
    } else if (e.key === "Escape" && document.activeElement === search && search.value) {
      search.value = "";
      refilter();
    }
  });

  readHash();
  apply();
  // What a keystroke runs (without the debounce) and a header click: for the benchmark.
  window.zooIndex = { apply: refilter, sortBy: sortBy };
})();
