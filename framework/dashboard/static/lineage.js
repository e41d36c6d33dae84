/* gnomon dashboard: lineage graph.
 *
 * Fills <div class="gnomon-lineage" data-id="3" data-depth="2" data-direction="both"> with the graph of
 * /api/runs/3/lineage drawn by cytoscape with the dagre layout (left to right: producers before the
 * runs that read their artifacts). Nodes are coloured by status, the page's own run is outlined, an
 * edge is labelled with the artifacts it carries; clicking a node opens that run's lineage tab. The
 * depth and direction controls re-fetch the graph and keep themselves in the URL (?depth=&direction=)
 * so a reload shows the same graph. cytoscape and cytoscape-dagre are loaded from /static/vendor when
 * the page has not loaded them. window.gnomonLineage is the latest cytoscape instance; the container
 * gets data-state="ready", data-nodes and data-edges once drawn and dispatches `gnomon:lineage-drawn`.
 */
(function () {
  "use strict";

  var CYTOSCAPE_JS = "/static/vendor/cytoscape-3.34.4.min.js";
  var DAGRE_JS = "/static/vendor/cytoscape-dagre-4.0.1.min.js";
  var STATUS_COLORS = {
    COMPLETED: "#2ca02c", RUNNING: "#1f77b4", QUEUED: "#9aa5b1", FAILED: "#d62728", DIED: "#7f1d1d",
    INTERRUPTED: "#ff7f0e", TIMEOUT: "#ff7f0e"
  };
  var OTHER = "#8c564b";

  var loading = {};
  function need(src, ready) {
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

  function libraries() {
    return need(CYTOSCAPE_JS, function () { return !!window.cytoscape; })
      .then(function () { return need(DAGRE_JS, function () { return !!window.cytoscapeDagre; }); })
      .then(function () {
        // cytoscape-dagre registers itself when cytoscape was loaded first; register it otherwise.
        if (!window.cytoscape("layout", "dagre")) window.cytoscape.use(window.cytoscapeDagre);
      });
  }

  /* Cytoscape elements from the API's graph: one edge per (producer, reader), labelled with its artifacts. */
  function elements(graph) {
    var nodes = (graph.nodes || []).map(function (node) {
      var id = String(node.run_id);
      return {group: "nodes", data: {
        id: id, label: "#" + id + (node.experiment ? " " + node.experiment : ""), status: node.status || "",
        color: STATUS_COLORS[node.status] || OTHER, root: id === String(graph.root) ? 1 : 0
      }};
    });
    var pairs = {};
    (graph.edges || []).forEach(function (edge) {
      var key = edge.source + "\u0000" + edge.target;
      if (!pairs[key]) pairs[key] = {source: String(edge.source), target: String(edge.target), artifacts: []};
      if (pairs[key].artifacts.indexOf(edge.artifact) < 0) pairs[key].artifacts.push(edge.artifact);
    });
    var edges = Object.keys(pairs).map(function (key) {
      var p = pairs[key];
      return {group: "edges", data: {id: "e" + p.source + "-" + p.target, source: p.source, target: p.target,
        label: p.artifacts.join(", ")}};
    });
    return nodes.concat(edges);
  }

  function Lineage(element) {
    this.element = element;
    this.id = element.dataset.id;
    this.depth = parseInt(element.dataset.depth || "1", 10) || 1;
    this.direction = element.dataset.direction || "both";
    this.cy = null;
    this.graph = null;
    element._gnomonLineage = this;
    this.build();
    this.load();
  }

  Lineage.prototype.build = function () {
    var self = this, root = this.element;
    root.textContent = "";
    var bar = document.createElement("div");
    bar.className = "gnomon-lineage-bar";
    var depth = document.createElement("select");
    depth.className = "gnomon-lineage-depth";
    depth.setAttribute("aria-label", "depth");
    for (var d = 1; d <= 6; d++) {
      var option = document.createElement("option");
      option.value = String(d);
      option.textContent = String(d);
      if (d === this.depth) option.selected = true;
      depth.appendChild(option);
    }
    var direction = document.createElement("select");
    direction.className = "gnomon-lineage-direction";
    direction.setAttribute("aria-label", "direction");
    [["both", "up and down"], ["up", "inputs (up)"], ["down", "outputs (down)"]].forEach(function (pair) {
      var option = document.createElement("option");
      option.value = pair[0];
      option.textContent = pair[1];
      if (pair[0] === self.direction) option.selected = true;
      direction.appendChild(option);
    });
    var depthLabel = document.createElement("label");
    depthLabel.textContent = "depth ";
    depthLabel.appendChild(depth);
    bar.appendChild(depthLabel);
    bar.appendChild(document.createTextNode(" "));
    bar.appendChild(direction);
    this.status = document.createElement("span");
    this.status.className = "gnomon-lineage-status";
    this.status.setAttribute("role", "status");
    bar.appendChild(this.status);
    this.canvas = document.createElement("div");
    this.canvas.className = "gnomon-lineage-graph";
    this.canvas.style.height = (this.element.dataset.height || "420") + "px";
    this.canvas.style.position = "relative";
    root.appendChild(bar);
    root.appendChild(this.canvas);

    function changed() {
      self.depth = parseInt(depth.value, 10);
      self.direction = direction.value;
      self.element.dataset.depth = String(self.depth);
      self.element.dataset.direction = self.direction;
      if (window.history && window.history.replaceState) {
        var url = new URL(window.location.href);
        url.searchParams.set("depth", String(self.depth));
        url.searchParams.set("direction", self.direction);
        window.history.replaceState(window.history.state, "", url.toString());
      }
      self.load();
    }
    depth.addEventListener("change", changed);
    direction.addEventListener("change", changed);
  };

  Lineage.prototype.load = function () {
    var self = this;
    var url = "/api/runs/" + encodeURIComponent(this.id) + "/lineage?depth=" + this.depth + "&direction=" + this.direction;
    this.element.dataset.state = "loading";
    return Promise.all([libraries(), fetch(url, {headers: {Accept: "application/json"}}).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || response.statusText);
        return body;
      });
    })]).then(function (done) {
      self.graph = done[1];
      self.draw();
    }).catch(function (error) {
      self.status.textContent = String(error.message || error);
      self.element.dataset.state = "error";
    });
  };

  Lineage.prototype.draw = function () {
    var self = this;
    if (this.cy) this.cy.destroy();
    var items = elements(this.graph);
    var edgeCount = items.filter(function (e) { return e.group === "edges"; }).length;
    this.status.textContent = edgeCount ? "" : " no other run shares an artifact with this one";
    this.cy = window.cytoscape({
      container: this.canvas,
      elements: items,
      layout: {name: "dagre", rankDir: "LR", nodeSep: 30, rankSep: 90},
      minZoom: 0.2,
      maxZoom: 3,
      style: [
        {selector: "node", style: {
          "background-color": "data(color)", "label": "data(label)", "color": "#111", "font-size": 12,
          "text-valign": "bottom", "text-margin-y": 4, "width": 26, "height": 26, "border-width": 1, "border-color": "#333"
        }},
        {selector: "node[root = 1]", style: {"border-width": 4, "border-color": "#000", "width": 32, "height": 32}},
        {selector: "edge", style: {
          "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 2, "line-color": "#888",
          "target-arrow-color": "#888", "label": "data(label)", "font-size": 10, "text-rotation": "autorotate",
          "text-background-color": "#fff", "text-background-opacity": 0.8, "text-background-padding": 2
        }}
      ]
    });
    // A small graph fitted to the box would be drawn huge: keep it at about its natural size.
    if (this.cy.zoom() > 1.25) { this.cy.zoom(1.25); this.cy.center(); }
    this.cy.on("tap", "node", function (event) {
      var id = event.target.id();
      window.location.href = "/runs/" + encodeURIComponent(id) + "?tab=lineage";
    });
    window.gnomonLineage = this.cy;
    var element = this.element;
    element.dataset.nodes = String(this.cy.nodes().length);
    element.dataset.edges = String(this.cy.edges().length);
    element.dataset.state = "ready";
    element.dispatchEvent(new CustomEvent("gnomon:lineage-drawn", {bubbles: true, detail: {lineage: self, cy: this.cy}}));
  };

  function scan() {
    document.querySelectorAll(".gnomon-lineage").forEach(function (element) {
      if (!element._gnomonLineage && element.dataset.id) new Lineage(element);
    });
  }

  document.addEventListener("gnomon:run-updated", function (event) {
    document.querySelectorAll(".gnomon-lineage").forEach(function (element) {
      var lineage = element._gnomonLineage;
      var id = event.detail && event.detail.id != null ? String(event.detail.id) : null;
      if (lineage && lineage.cy && id !== null && lineage.cy.getElementById(id).length) {
        var node = lineage.graph.nodes.filter(function (n) { return String(n.run_id) === id; })[0];
        if (node && event.detail.status && node.status !== event.detail.status) lineage.load();
      }
    });
  });
  document.addEventListener("htmx:afterSettle", scan);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();

  Lineage.elements = elements;
  window.GnomonLineage = Lineage;
})();
