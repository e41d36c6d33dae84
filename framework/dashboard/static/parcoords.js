/* gnomon dashboard: parallel coordinates.
 *
 * Draws every <canvas class="gnomon-parcoords" data-ids="1,2,3" data-axes="config.lr,metrics.loss.min">
 * from /api/rows: one vertical axis per column (numbers on a linear scale, anything else as evenly
 * spaced categories, a missing value on a row below the axis) and one polyline per run in the run's
 * colour (window.gnomonColor). Dragging along an axis brushes it; a click on an axis clears its brush.
 * Runs outside any brush turn grey, and the canvas dispatches `gnomon:brush` (bubbling to document)
 * with detail {ids: the selected run ids, all: true when nothing is brushed}. window.gnomonParcoords
 * lists the components ({element, ids, axes, rows, selected, polylines, brush(axis, lo, hi), clear()}).
 */
(function () {
  "use strict";

  var registry = window.gnomonParcoords = window.gnomonParcoords || [];
  var PAD = {top: 34, bottom: 40, left: 60, right: 60};
  var GREY = "rgba(150,150,150,0.35)";

  function split(text) {
    return String(text || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function color(id) {
    return window.gnomonColor ? window.gnomonColor(id) : "#1f77b4";
  }

  /* The scale of one axis: numeric when every present value is a finite number, else categories. */
  function scaleOf(values) {
    var present = values.filter(function (v) { return v !== null && v !== undefined; });
    var numeric = present.length > 0 && present.every(function (v) { return typeof v === "number" && isFinite(v); });
    if (numeric) {
      return {kind: "number", min: Math.min.apply(null, present), max: Math.max.apply(null, present)};
    }
    var seen = {};
    present.forEach(function (v) { seen[label(v)] = true; });
    return {kind: "category", values: Object.keys(seen).sort()};
  }

  function label(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  /* A value's place on its axis, 0 (bottom) to 1 (top); -1 for a missing value. */
  function fraction(scale, v) {
    if (v === null || v === undefined) return -1;
    if (scale.kind === "number") {
      if (typeof v !== "number" || !isFinite(v)) return -1;
      return scale.max > scale.min ? (v - scale.min) / (scale.max - scale.min) : 0.5;
    }
    var n = scale.values.length, i = scale.values.indexOf(label(v));
    if (i < 0) return -1;
    return n > 1 ? i / (n - 1) : 0.5;
  }

  /* The run ids whose value on every brushed axis lies inside its brush (fractions [lo, hi]). */
  function select(rows, axes, scales, brushes) {
    return rows.filter(function (row) {
      return axes.every(function (axis, i) {
        var b = brushes[axis];
        if (!b) return true;
        var f = fraction(scales[i], row[axis]);
        return f >= b[0] && f <= b[1];
      });
    }).map(function (row) { return String(row.run_id); });
  }

  function Parcoords(canvas) {
    this.element = canvas;
    this.ids = split(canvas.dataset.ids);
    this.axes = split(canvas.dataset.axes);
    this.rows = [];
    this.scales = [];
    this.brushes = {};
    this.selected = this.ids.slice();
    this.polylines = 0;
    this._drag = null;
    canvas._gnomonParcoords = this;
    // Fix the size in CSS pixels: the drawing buffer is then scaled for the screen's pixel ratio.
    if (!canvas.style.width) canvas.style.width = "100%";
    if (!canvas.style.height) canvas.style.height = (parseInt(canvas.dataset.height || "320", 10)) + "px";
    canvas.style.touchAction = "none";
    this.listen();
    this.load();
  }

  Parcoords.prototype.load = function () {
    var self = this, canvas = this.element;
    canvas.dataset.state = "loading";
    var url = "/api/rows?ids=" + encodeURIComponent(this.ids.join(",")) + "&cols=" + encodeURIComponent(this.axes.join(","));
    return fetch(url, {headers: {Accept: "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || response.statusText);
          return body;
        });
      })
      .then(function (body) {
        self.rows = body.rows || [];
        self.scales = self.axes.map(function (axis) {
          return scaleOf(self.rows.map(function (row) { return row[axis]; }));
        });
        self.selected = self.rows.map(function (row) { return String(row.run_id); });
        self.draw();
        canvas.dataset.state = "ready";
        canvas.dispatchEvent(new CustomEvent("gnomon:parcoords-drawn", {bubbles: true, detail: {parcoords: self}}));
      })
      .catch(function (error) {
        canvas.dataset.state = "error";
        canvas.setAttribute("title", String(error.message || error));
      });
  };

  Parcoords.prototype.size = function () {
    var canvas = this.element;
    var width = canvas.clientWidth || 800;
    var height = canvas.clientHeight || parseInt(canvas.dataset.height || "320", 10);
    return {width: width, height: height};
  };

  /* The x pixel of axis i and the y pixel of a fraction (CSS pixels of the canvas). */
  Parcoords.prototype.axisX = function (i) {
    var s = this.size(), n = this.axes.length;
    return n > 1 ? PAD.left + i * (s.width - PAD.left - PAD.right) / (n - 1) : s.width / 2;
  };

  Parcoords.prototype.fractionY = function (f) {
    var s = this.size(), bottom = s.height - PAD.bottom;
    return f < 0 ? bottom + 22 : bottom - f * (bottom - PAD.top);
  };

  Parcoords.prototype.yFraction = function (y) {
    var s = this.size(), bottom = s.height - PAD.bottom;
    return (bottom - y) / (bottom - PAD.top);
  };

  /* The y pixel of a value on an axis (for tests that drag a brush with the mouse). */
  Parcoords.prototype.valueY = function (axis, value) {
    var i = this.axes.indexOf(axis);
    return this.fractionY(fraction(this.scales[i], value));
  };

  Parcoords.prototype.draw = function () {
    var self = this, canvas = this.element, s = this.size(), ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(s.width * ratio);
    canvas.height = Math.round(s.height * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, s.width, s.height);
    var chosen = {};
    this.selected.forEach(function (id) { chosen[id] = true; });
    var ordered = this.rows.filter(function (r) { return !chosen[String(r.run_id)]; })
      .concat(this.rows.filter(function (r) { return chosen[String(r.run_id)]; }));
    ordered.forEach(function (row) {
      var id = String(row.run_id);
      ctx.beginPath();
      self.axes.forEach(function (axis, i) {
        var x = self.axisX(i), y = self.fractionY(fraction(self.scales[i], row[axis]));
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = chosen[id] ? color(id) : GREY;
      ctx.lineWidth = chosen[id] ? 2 : 1;
      ctx.stroke();
    });
    this.polylines = ordered.length;
    ctx.font = "12px sans-serif";
    ctx.textAlign = "center";
    this.axes.forEach(function (axis, i) {
      var x = self.axisX(i), scale = self.scales[i];
      ctx.strokeStyle = "#333";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x, self.fractionY(0));
      ctx.lineTo(x, self.fractionY(1));
      ctx.stroke();
      ctx.fillStyle = "#111";
      ctx.fillText(axis.length > 28 ? "…" + axis.slice(-27) : axis, x, PAD.top - 18);
      ctx.fillStyle = "#555";
      if (scale.kind === "number") {
        ctx.fillText(short(scale.max), x, PAD.top - 4);
        ctx.fillText(short(scale.min), x, self.fractionY(0) + 14);
      } else {
        scale.values.forEach(function (v, k) {
          ctx.fillText(v.length > 14 ? v.slice(0, 13) + "…" : v, x, self.fractionY(fraction(scale, v)) - 3);
        });
      }
      var brush = self.brushes[axis];
      if (brush) {
        var top = self.fractionY(brush[1]), bottom = self.fractionY(brush[0]);
        ctx.fillStyle = "rgba(30,100,200,0.18)";
        ctx.fillRect(x - 8, top, 16, bottom - top);
      }
    });
  };

  function short(v) {
    return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(+v.toPrecision(4));
  }

  Parcoords.prototype.apply = function () {
    var all = Object.keys(this.brushes).length === 0;
    this.selected = select(this.rows, this.axes, this.scales, this.brushes);
    this.draw();
    this.element.dispatchEvent(new CustomEvent("gnomon:brush", {
      bubbles: true, detail: {ids: this.selected.slice(), all: all, element: this.element}
    }));
  };

  /* Brush an axis between two values (numbers, or the first and last category to keep). */
  Parcoords.prototype.brush = function (axis, lo, hi) {
    var i = this.axes.indexOf(axis);
    if (i < 0) throw new Error("no axis " + axis);
    var a = fraction(this.scales[i], lo), b = fraction(this.scales[i], hi);
    this.brushes[axis] = [Math.min(a, b) - 1e-9, Math.max(a, b) + 1e-9];
    this.apply();
  };

  Parcoords.prototype.clear = function (axis) {
    if (axis) delete this.brushes[axis]; else this.brushes = {};
    this.apply();
  };

  Parcoords.prototype.listen = function () {
    var self = this, canvas = this.element;
    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {x: event.clientX - box.left, y: event.clientY - box.top};
    }
    canvas.addEventListener("pointerdown", function (event) {
      var p = point(event);
      for (var i = 0; i < self.axes.length; i++) {
        if (Math.abs(p.x - self.axisX(i)) <= 14) {
          self._drag = {axis: self.axes[i], y0: p.y};
          if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
          event.preventDefault();
          return;
        }
      }
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!self._drag) return;
      var y = point(event).y, a = self.yFraction(self._drag.y0), b = self.yFraction(y);
      var lo = Math.min(a, b), hi = Math.max(a, b);
      // A brush reaching close to an end of the axis takes in the value at that end.
      self.brushes[self._drag.axis] = [lo <= 0.03 ? -1e-9 : lo, hi >= 0.97 ? 1 + 1e-9 : hi];
      self.draw();
    });
    canvas.addEventListener("pointerup", function (event) {
      if (!self._drag) return;
      var drag = self._drag;
      self._drag = null;
      if (Math.abs(point(event).y - drag.y0) < 3) delete self.brushes[drag.axis];
      self.apply();
    });
  };

  function scan() {
    for (var i = registry.length - 1; i >= 0; i--) {
      if (!document.contains(registry[i].element)) registry.splice(i, 1);
    }
    document.querySelectorAll("canvas.gnomon-parcoords").forEach(function (canvas) {
      if (!canvas._gnomonParcoords) registry.push(new Parcoords(canvas));
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { registry.forEach(function (p) { if (p.rows.length) p.draw(); }); }, 150);
  });
  document.addEventListener("htmx:afterSettle", scan);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();

  Parcoords.scaleOf = scaleOf;
  Parcoords.fraction = fraction;
  Parcoords.select = select;
  window.GnomonParcoords = Parcoords;
})();
