/* gnomon dashboard: the comparison page's glue.
 *
 * - Brushing: on `gnomon:brush` (from parallel coordinates, detail {ids, all}), every element carrying
 *   data-run-id inside a `.gnomon-brush-target` (the compare tables: a row or a column cell per run)
 *   is hidden unless its run is selected; `all: true` shows every run again. The selection is kept in
 *   window.gnomonCompare.selected (null when nothing is brushed).
 * - Differing values only: a checkbox `input.gnomon-toggle-all` with data-target="<CSS selector>" shows
 *   the rows marked `.gnomon-same` (values equal in every run) inside its target when checked and hides
 *   them when not; the server may render them hidden already.
 * - Run colours: an element with data-run-color="<run id>" gets the run's plot colour in the CSS
 *   variable --gnomon-run-color (and as its background when it has the class gnomon-swatch, as its
 *   text colour otherwise), so tables match the charts.
 */
(function () {
  "use strict";

  var state = window.gnomonCompare = window.gnomonCompare || {selected: null};

  function applySelection() {
    var chosen = null;
    if (state.selected) {
      chosen = {};
      state.selected.forEach(function (id) { chosen[String(id)] = true; });
    }
    document.querySelectorAll(".gnomon-brush-target [data-run-id]").forEach(function (element) {
      var out = chosen !== null && !chosen[element.dataset.runId];
      element.classList.toggle("gnomon-brushed-out", out);
      element.hidden = out;
    });
  }

  document.addEventListener("gnomon:brush", function (event) {
    var detail = event.detail || {};
    state.selected = detail.all ? null : (detail.ids || []).map(String);
    applySelection();
  });

  function toggle(input) {
    var target = input.dataset.target ? document.querySelector(input.dataset.target) : document;
    if (!target) return;
    target.querySelectorAll(".gnomon-same").forEach(function (row) { row.hidden = !input.checked; });
    if (target.classList) target.classList.toggle("gnomon-show-all", input.checked);
  }

  function colour() {
    var colorOf = window.gnomonColor;
    if (!colorOf) return;
    document.querySelectorAll("[data-run-color]").forEach(function (element) {
      var color = colorOf(element.dataset.runColor);
      element.style.setProperty("--gnomon-run-color", color);
      if (element.classList.contains("gnomon-swatch")) element.style.backgroundColor = color;
      else element.style.color = color;
    });
  }

  function scan() {
    document.querySelectorAll("input.gnomon-toggle-all").forEach(function (input) {
      if (!input._gnomonToggle) {
        input._gnomonToggle = true;
        input.addEventListener("change", function () { toggle(input); });
      }
      toggle(input);
    });
    colour();
    if (state.selected) applySelection();
  }

  document.addEventListener("htmx:afterSettle", scan);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
