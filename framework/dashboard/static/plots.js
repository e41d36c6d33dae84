/* gnomon dashboard: metric plots.
 *
 * Fills every <div class="gnomon-plot" data-ids="1,2" data-metric="loss" data-x="step"> with a uPlot
 * chart of /api/series: one line per run (or, with data-group-by="config.key", the mean of each group)
 * with its min/max band, in a colour that depends only on the run id, so a run looks the same on
 * every chart of every page. Drag to zoom (the visible range is fetched again at full detail),
 * double-click or "reset" to zoom out; x = step | time | elapsed, linear/log y and EMA smoothing
 * (the raw series drawn faintly behind) are controls above the chart. A `gnomon:run-updated` event
 * on document ({detail: {id}}) re-fetches the plots showing that run. window.gnomonPlots lists the
 * plots ({element, ids, metric, points, series, ...}); each element gets data-state="ready" and
 * data-points once drawn and dispatches `gnomon:plot-drawn`.
 */
(function () {
  "use strict";

  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#b5179e", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];
  var UPLOT_JS = "/static/vendor/uplot-1.6.32.min.js";
  var LAZY_ABOVE = 12;  // more plots than this on a page: draw each when it scrolls into view
  var plots = window.gnomonPlots = window.gnomonPlots || [];

  function hash(text) {  // FNV-1a, 32 bits
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h;
  }

  /* The colour of a run (or any key), the same everywhere: consecutive numeric ids get distinct colours. */
  function colorOf(key) {
    var text = String(key);
    var index = /^\d+$/.test(text) ? parseInt(text.slice(-9), 10) : hash(text);
    return PALETTE[index % PALETTE.length];
  }

  function withAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  window.gnomonColor = window.gnomonColor || colorOf;

  function split(text) {
    return String(text || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  var loading = {};
  function need(src, ready) {  // a vendored script, loaded once when a page lacks it
    if (ready()) return Promise.resolve();
    if (!loading[src]) {
      loading[src] = new Promise(function (resolve, reject) {
        var tag = document.createElement("script");
        tag.src = src;
        tag.onload = resolve;
        tag.onerror = function () { reject(new Error("cannot load " + src)); };
        document.head.appendChild(tag);
      });
    }
    return loading[src];
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function Plot(element) {
    this.element = element;
    this.ids = split(element.dataset.ids);
    this.metric = element.dataset.metric || "";
    this.x = element.dataset.x || "step";
    this.groupBy = element.dataset.groupBy || null;
    this.log = element.dataset.log === "true";
    this.smooth = parseFloat(element.dataset.smooth || "0") || 0;
    this.range = null;
    this.points = 0;
    this.series = [];
    this.colors = {};
    this.url = null;
    this.requests = 0;
    this.uplot = null;
    this._controller = null;
    this._pending = false;
    this._signature = null;
    element._gnomonPlot = this;
    this.build();
  }

  Plot.prototype.build = function () {
    var self = this, root = this.element;
    root.textContent = "";
    var bar = el("div", {"class": "gnomon-plot-bar"});
    bar.style.cssText = "display:flex;flex-wrap:wrap;gap:.4em 1em;align-items:center";
    bar.appendChild(el("span", {"class": "gnomon-plot-title"}, this.metric + (this.groupBy ? " by " + this.groupBy : "")));
    var xSelect = el("select", {"class": "gnomon-plot-x", "aria-label": "x axis"});
    ["step", "time", "elapsed"].forEach(function (name) {
      var option = el("option", {value: name}, name);
      if (name === self.x) option.selected = true;
      xSelect.appendChild(option);
    });
    var xLabel = el("label", {}, "x ");
    xLabel.appendChild(xSelect);
    bar.appendChild(xLabel);
    var log = el("input", {type: "checkbox", "class": "gnomon-plot-log"});
    log.checked = this.log;
    var logLabel = el("label", {});
    logLabel.appendChild(log);
    logLabel.appendChild(document.createTextNode(" log y"));
    bar.appendChild(logLabel);
    var smooth = el("input", {type: "range", "class": "gnomon-plot-smooth", min: "0", max: "0.99", step: "0.01",
      value: String(this.smooth), "aria-label": "smoothing"});
    var smoothValue = el("output", {"class": "gnomon-plot-smooth-value"}, this.smooth.toFixed(2));
    var smoothLabel = el("label", {}, "smooth ");
    smoothLabel.appendChild(smooth);
    smoothLabel.appendChild(smoothValue);
    bar.appendChild(smoothLabel);
    var reset = el("button", {type: "button", "class": "gnomon-plot-reset"}, "reset zoom");
    reset.hidden = true;
    bar.appendChild(reset);
    this.status = el("span", {"class": "gnomon-plot-status", role: "status"});
    bar.appendChild(this.status);
    this.chart = el("div", {"class": "gnomon-plot-chart"});
    this.legend = el("div", {"class": "gnomon-plot-legend"});
    root.appendChild(bar);
    root.appendChild(this.chart);
    root.appendChild(this.legend);
    this.resetButton = reset;

    xSelect.addEventListener("change", function () { self.x = xSelect.value; self.range = null; self.load(); });
    log.addEventListener("change", function () { self.log = log.checked; self.redraw(); });
    var timer = null;
    smooth.addEventListener("input", function () {
      smoothValue.textContent = parseFloat(smooth.value).toFixed(2);
      clearTimeout(timer);
      timer = setTimeout(function () { self.smooth = parseFloat(smooth.value) || 0; self.load(); }, 250);
    });
    reset.addEventListener("click", function () { self.zoom(null); });
    this.chart.addEventListener("dblclick", function () { self.zoom(null); });
  };

  Plot.prototype.zoom = function (range) {
    this.range = range;
    this.resetButton.hidden = !range;
    this.load();
  };

  Plot.prototype.query = function () {
    var width = this.chart.clientWidth || this.element.clientWidth || 600;
    var points = Math.max(100, Math.min(4000, Math.round(2 * width)));
    var parts = ["ids=" + encodeURIComponent(this.ids.join(",")), "names=" + encodeURIComponent(this.metric),
      "x=" + this.x, "points=" + points];
    if (this.range) {
      var digits = this.x === "step" ? 0 : 3;
      var lo = this.x === "step" ? Math.floor(this.range[0]) : this.range[0];
      var hi = this.x === "step" ? Math.ceil(this.range[1]) : this.range[1];
      parts.push("range=" + lo.toFixed(digits) + "," + hi.toFixed(digits));
    }
    if (this.smooth > 0) parts.push("smooth=ema:" + this.smooth.toFixed(2));
    if (this.groupBy) parts.push("group_by=" + encodeURIComponent(this.groupBy));
    return "/api/series?" + parts.join("&");
  };

  Plot.prototype.load = function () {
    var self = this;
    if (this._controller) this._controller.abort();
    var controller = this._controller = new AbortController();
    this.url = this.query();
    this.requests += 1;
    this.element.dataset.state = "loading";
    return need(UPLOT_JS, function () { return !!window.uPlot; })
      .then(function () { return fetch(self.url, {signal: controller.signal, headers: {Accept: "application/json"}}); })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || response.statusText);
          return body;
        });
      })
      .then(function (body) {
        if (controller !== self._controller) return;
        self._controller = null;
        self.series = body.series || [];
        self.status.textContent = self.series.length ? "" : "no data";
        self.redraw();
        if (self._pending) { self._pending = false; self.load(); }
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        self._controller = null;
        self.status.textContent = String(error.message || error);
        self.element.dataset.state = "error";
      });
  };

  /* Ask for fresh data (a live run moved); requests never pile up. */
  Plot.prototype.refresh = function () {
    if (this._controller) this._pending = true;
    else this.load();
  };

  function clean(values, log) {
    return values.map(function (v) { return v == null || (log && v <= 0) ? null : v; });
  }

  Plot.prototype.redraw = function () {
    var self = this, log = this.log, grouped = !!this.groupBy;
    var tables = [], series = [{}], bands = [], colors = {}, points = 0, index = 1;
    this.legend.textContent = "";
    this.series.forEach(function (s) {
      var key = grouped ? s.group : s.run_id;
      var color = colorOf(grouped ? "group:" + s.group : s.run_id);
      var label = grouped ? String(s.group) + " (" + s.run_ids.length + ")" : "#" + s.run_id;
      colors[key] = color;
      if (s.raw) {
        tables.push([s.raw.x, clean(s.raw.y, log)]);
        series.push({label: label + " raw", stroke: withAlpha(color, 0.3), width: 1, spanGaps: true, points: {show: false}});
        index += 1;
      }
      tables.push([s.x, clean(s.max, log), clean(s.min, log), clean(s.y, log)]);
      series.push({label: label + " max", stroke: withAlpha(color, 0), width: 0, spanGaps: true, points: {show: false}});
      series.push({label: label + " min", stroke: withAlpha(color, 0), width: 0, spanGaps: true, points: {show: false}});
      series.push({label: label, stroke: color, width: 1.5, spanGaps: true, points: {show: false}});
      bands.push({series: [index, index + 1], fill: withAlpha(color, 0.15)});
      index += 3;
      points += s.x.length;
      var item = el("span", {"class": "gnomon-plot-key", "data-series": grouped ? "group:" + s.group : s.run_id}, label);
      item.style.marginRight = "1em";
      item.style.color = color;
      self.legend.appendChild(item);
    });
    this.colors = colors;
    this.points = points;
    var width = this.chart.clientWidth || this.element.clientWidth || 600;
    var height = parseInt(this.element.dataset.height || "240", 10);
    if (!tables.length) {
      this.destroy();
      this._finish();
      return;
    }
    var data = window.uPlot.join(tables);
    var signature = [this.x, log, series.map(function (s) { return s.label + s.stroke; }).join("|")].join(";");
    if (this.uplot && signature === this._signature) {
      this.uplot.setData(data, true);
      this._finish();
      return;
    }
    this.destroy();
    this._signature = signature;
    this.uplot = new window.uPlot({
      width: width,
      height: height,
      series: series,
      bands: bands,
      legend: {show: false},
      scales: {x: {time: this.x === "time"}, y: log ? {distr: 3} : {}},
      axes: [{}, {size: 60}],
      cursor: {drag: {x: true, y: false, setScale: false}},
      hooks: {
        setSelect: [function (u) {
          if (u.select.width > 4) {
            var lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
            self.zoom([lo, hi]);
          }
          u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
        }]
      }
    }, data, this.chart);
    this._finish();
  };

  Plot.prototype._finish = function () {
    this.element.dataset.points = String(this.points);
    this.element.dataset.state = "ready";
    this.element.dispatchEvent(new CustomEvent("gnomon:plot-drawn", {bubbles: true, detail: {plot: this}}));
  };

  Plot.prototype.destroy = function () {
    if (this.uplot) { this.uplot.destroy(); this.uplot = null; }
    this._signature = null;
  };

  Plot.prototype.resize = function () {
    if (this.uplot) {
      var width = this.chart.clientWidth || this.element.clientWidth;
      if (width && width !== this.uplot.width) this.uplot.setSize({width: width, height: this.uplot.height});
    }
  };

  var observer = null;
  function scan() {
    for (var i = plots.length - 1; i >= 0; i--) {
      if (!document.contains(plots[i].element)) { plots[i].destroy(); plots.splice(i, 1); }
    }
    var fresh = [];
    document.querySelectorAll(".gnomon-plot").forEach(function (element) {
      if (!element._gnomonPlot) fresh.push(new Plot(element));
    });
    var lazy = fresh.length + plots.length > LAZY_ABOVE && "IntersectionObserver" in window;
    if (lazy && !observer) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { observer.unobserve(entry.target); entry.target._gnomonPlot.load(); }
        });
      }, {rootMargin: "300px"});
    }
    fresh.forEach(function (plot) {
      plots.push(plot);
      if (lazy) observer.observe(plot.element);
      else plot.load();
    });
  }

  document.addEventListener("gnomon:run-updated", function (event) {
    var id = event.detail && event.detail.id != null ? String(event.detail.id) : null;
    plots.forEach(function (plot) {
      if (id !== null && plot.ids.indexOf(id) >= 0 && plot.element.dataset.state) plot.refresh();
    });
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { plots.forEach(function (p) { p.resize(); }); }, 150);
  });

  document.addEventListener("htmx:afterSettle", scan);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();

  window.GnomonPlot = Plot;
})();
