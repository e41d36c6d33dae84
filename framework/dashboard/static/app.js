/* gnomon dashboard glue: run selection, live updates over /events, the output tail.
 * Plain script, no build step. Pages work without it; it only enhances them. */
(function () {
  "use strict";
  var body = document.body;
  var page = body.dataset.page || "";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  /* ---- selection: checkboxes -> Compare / Tag ---- */
  function selectedIds() {
    return $all(".run-select:checked").map(function (box) { return box.value; });
  }
  function updateSelection() {
    var ids = selectedIds();
    $all(".needs-selection").forEach(function (el) { el.disabled = ids.length === 0; });
    var field = $("#tag-ids");
    if (field) { field.value = ids.join(","); }
    body.dataset.selected = ids.join(",");
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-all") {
      $all(".run-select").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.id === "select-all" || target.classList.contains("run-select")) { updateSelection(); }
  });
  var compare = $("#compare-selected");
  if (compare) {
    compare.addEventListener("click", function () {
      var ids = selectedIds();
      if (ids.length) { window.location.href = "/compare?ids=" + encodeURIComponent(ids.join(",")); }
    });
  }
  var tagForm = $("#tag-form");
  if (tagForm) { tagForm.addEventListener("submit", updateSelection); }
  updateSelection();
  document.addEventListener("htmx:afterSettle", updateSelection);

  /* ---- live updates ---- */
  function dispatchUpdated(id) {
    document.dispatchEvent(new CustomEvent("gnomon:run-updated", { detail: { id: String(id) } }));
  }

  function refreshRows(changes) {
    var tbody = $("#runs-body");
    var url = body.dataset.rowsUrl;
    if (!tbody || !url) { return; }
    var wanted = changes.added.concat(changes.updated);
    changes.removed.forEach(function (id) {
      var row = document.getElementById("run-row-" + id);
      if (row) { row.remove(); }
    });
    if (!wanted.length) { return; }
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    fetch(url + sep + "only=" + encodeURIComponent(wanted.join(",")), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        var table = document.createElement("table");
        table.innerHTML = "<tbody>" + html + "</tbody>";
        var fresh = {};
        $all("tr.run-row", table).forEach(function (row) {
          var id = row.dataset.runId;
          fresh[id] = true;
          var old = document.getElementById("run-row-" + id);
          if (old) {
            var box = $(".run-select", old);
            if (box && box.checked) { $(".run-select", row).checked = true; }
            old.replaceWith(row);
          } else {
            tbody.insertBefore(row, tbody.firstChild);
            row.classList.add("new-row");
          }
        });
        changes.updated.forEach(function (id) {  /* no longer matches the filter */
          var row = document.getElementById("run-row-" + id);
          if (row && !fresh[id]) { row.remove(); }
        });
        var empty = $("#no-runs");
        if (empty && tbody.children.length) { empty.remove(); }
        updateSelection();
      })
      .catch(function () { /* the next change brings the rows again */ });
  }

  /* ---- run page: status badge and the output tail ---- */
  var output = $("#output");
  function outputUpdate() {
    var runId = body.dataset.runId;
    var start = output ? Number(output.dataset.end) : 0;
    return fetch("/runs/" + encodeURIComponent(runId) + "/output.json?offset=" + start, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var status = $("#run-status .status");
        if (status && data.status && status.textContent !== data.status) {
          status.textContent = data.status;
          status.className = "badge status status-" + data.status.toLowerCase();
          $("#run-status").dataset.status = data.status;
          var overview = $("#overview-status");
          if (overview) { overview.textContent = data.status; }
          if (data.status !== "RUNNING" && data.status !== "DIED") {
            var seen = $("#run-status .last-seen");
            if (seen) { seen.remove(); }
          }
        }
        if (output && data.text) {
          var follow = $("#output-follow");
          var atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
          output.appendChild(document.createTextNode(data.text));
          output.dataset.end = String(data.end);
          if (follow && follow.checked && atBottom) { output.scrollTop = output.scrollHeight; }
        }
      })
      .catch(function () {});
  }
  var earlier = $("#output-earlier");
  if (earlier && output) {
    earlier.addEventListener("click", function () {
      var before = Number(output.dataset.start);
      fetch("/runs/" + encodeURIComponent(body.dataset.runId) + "/output.json?before=" + before, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          output.insertBefore(document.createTextNode(data.text), output.firstChild);
          output.dataset.start = String(data.start);
          if (data.start <= 0) { earlier.remove(); }
        });
    });
  }
  if (output && $("#output-follow") && $("#output-follow").checked) { output.scrollTop = output.scrollHeight; }

  document.addEventListener("gnomon:run-updated", function (event) {
    if (page === "run" && event.detail && event.detail.id === body.dataset.runId) { outputUpdate(); }
  });

  /* ---- compare: brushing the parallel coordinates hides the other runs ---- */
  document.addEventListener("gnomon:brush", function (event) {
    var root = $("#compare");
    if (!root) { return; }
    var ids = event.detail && event.detail.ids;
    var keep = {};
    (ids || []).forEach(function (id) { keep[String(id)] = true; });
    $all("[data-run-id]", root).forEach(function (el) {
      if (el.classList.contains("gnomon-plot") || el.classList.contains("gnomon-parcoords")) { return; }
      el.hidden = ids ? !keep[el.dataset.runId] : false;
    });
  });

  /* ---- the event stream ---- */
  var live = $("#live-state");
  if (window.EventSource && body.dataset.events && (page === "runs" || page === "run" || page === "compare")) {
    var source = new EventSource(body.dataset.events);
    source.addEventListener("open", function () { if (live) { live.classList.add("on"); } });
    source.addEventListener("error", function () { if (live) { live.classList.remove("on"); } });
    source.addEventListener("changes", function (event) {
      var changes;
      try { changes = JSON.parse(event.data); } catch (e) { return; }
      changes.added = changes.added || []; changes.updated = changes.updated || []; changes.removed = changes.removed || [];
      if (page === "runs") { refreshRows(changes); }
      changes.added.concat(changes.updated).forEach(dispatchUpdated);
    });
    window.gnomonEvents = source;
  }
})();
