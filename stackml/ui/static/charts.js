// Metric charts on uPlot, fed by the server's downsampled series.
//
// Each chart asks /api/v1/runs/<id>/metrics/series for about as many points as it is wide in
// pixels (the server keeps the shape with MinMaxLTTB). Dragging across a chart zooms: the
// chart asks again for just the visible step range, so a million-point metric is exact where
// you look. Double-click goes back to the whole run. Smoothing (an exponential moving average,
// debiased like TensorBoard's), the x-axis mode and log scale are applied in the browser.
(function () {
  "use strict";

  var LIVE_INTERVAL_MS = 5000;
  // Every series URL requested, newest last: lets tests and curious people see zoom requests.
  window.stackmlChartRequests = [];

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Shared settings of all charts on the page (toolbar controls).
  var settings = { xMode: "step", smoothing: 0, log: false };
  var charts = [];

  function smooth(values, weight) {
    if (!weight) return values;
    var out = new Array(values.length);
    var last = 0, debias = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      debias = debias * weight + (1 - weight);
      out[i] = last / debias;
    }
    return out;
  }

  function numberOrNull(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  // One chart: several series (run id + metric key each) sharing an x-axis.
  function MetricChart(host, series, options) {
    this.host = host;
    this.series = series.slice(); // [{runId, key, label, color, startTime}]
    this.options = options || {};
    this.range = null; // [startStep, endStep] while zoomed
    this.raw = []; // fetched answers, one per series
    this.plot = null;
    this.build();
  }

  MetricChart.prototype.build = function () {
    var self = this;
    var card = document.createElement("div");
    card.className = "card chart-card";
    var head = document.createElement("div");
    head.className = "chart-head";
    this.title = document.createElement("div");
    this.title.className = "chart-title mono";
    head.appendChild(this.title);
    this.meta = document.createElement("span");
    this.meta.className = "chart-meta muted small";
    head.appendChild(this.meta);
    if (this.options.addable && this.options.addable.length) {
      var add = document.createElement("select");
      add.className = "select small add-key";
      add.setAttribute("aria-label", "Add a metric to this chart");
      var first = document.createElement("option");
      first.value = ""; first.textContent = "+ key";
      add.appendChild(first);
      this.options.addable.forEach(function (key) {
        var opt = document.createElement("option");
        opt.value = key; opt.textContent = key;
        add.appendChild(opt);
      });
      add.addEventListener("change", function () {
        if (!add.value) return;
        var base = self.series[0];
        var palette = ["#f2994a", "#27ae60", "#eb5757", "#9b51e0", "#2d9cdb"];
        self.series.push({ runId: base.runId, key: add.value, label: add.value,
          color: palette[(self.series.length - 1) % palette.length], startTime: base.startTime });
        add.querySelector('option[value="' + CSS.escape(add.value) + '"]').remove();
        add.value = "";
        self.load();
      });
      head.appendChild(add);
    }
    card.appendChild(head);
    this.box = document.createElement("div");
    this.box.className = "chart-box";
    card.appendChild(this.box);
    this.host.appendChild(card);
    this.card = card;
    this.updateTitle();
    this.box.addEventListener("dblclick", function () {
      if (self.range) { self.range = null; self.load(); }
    });
  };

  MetricChart.prototype.updateTitle = function () {
    var keys = [];
    this.series.forEach(function (s) { if (keys.indexOf(s.key) < 0) keys.push(s.key); });
    this.title.textContent = keys.join(" · ");
  };

  MetricChart.prototype.width = function () {
    return Math.max(240, Math.floor(this.box.clientWidth || this.host.clientWidth || 480));
  };

  MetricChart.prototype.url = function (s) {
    var params = new URLSearchParams({ key: s.key });
    // Ask for about one point per pixel (at least 200): MinMaxLTTB keeps the extremes.
    params.set("max_points", String(Math.min(20000, Math.max(200, this.width()))));
    if (this.range) {
      params.set("start_step", String(this.range[0]));
      params.set("end_step", String(this.range[1]));
    }
    return "/api/v1/runs/" + encodeURIComponent(s.runId) + "/metrics/series?" + params.toString();
  };

  MetricChart.prototype.load = function () {
    var self = this;
    this.updateTitle();
    var urls = this.series.map(function (s) { return self.url(s); });
    urls.forEach(function (u) { window.stackmlChartRequests.push(u); });
    return Promise.all(urls.map(function (u) {
      return fetch(u, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .catch(function () { return null; });
    })).then(function (answers) {
      self.raw = answers;
      self.render();
    });
  };

  // x value of point i of an answer, in the current x mode.
  MetricChart.prototype.xOf = function (answer, i, s) {
    if (settings.xMode === "time") return answer.timestamps[i] / 1000;
    if (settings.xMode === "relative") return (answer.timestamps[i] - (s.startTime || answer.timestamps[0])) / 1000;
    return answer.steps[i];
  };

  // uPlot wants one shared x array: merge the series' x values, null where a series has none.
  MetricChart.prototype.alignedData = function () {
    var self = this;
    var index = new Map();
    var xs = [];
    this.raw.forEach(function (answer, k) {
      if (!answer) return;
      for (var i = 0; i < answer.steps.length; i++) {
        var x = self.xOf(answer, i, self.series[k]);
        if (!index.has(x)) { index.set(x, -1); xs.push(x); }
      }
    });
    xs.sort(function (a, b) { return a - b; });
    xs.forEach(function (x, i) { index.set(x, i); });
    var data = [xs];
    var points = 0, total = 0, downsampled = false;
    this.raw.forEach(function (answer, k) {
      var ys = new Array(xs.length).fill(null);
      if (answer) {
        var values = answer.values.map(numberOrNull);
        values = smooth(values, settings.smoothing);
        for (var i = 0; i < answer.steps.length; i++) {
          var y = values[i];
          if (settings.log && (y === null || y <= 0)) y = null;
          ys[index.get(self.xOf(answer, i, self.series[k]))] = y;
        }
        points += answer.steps.length; total += answer.total; downsampled = downsampled || answer.downsampled;
      }
      data.push(ys);
    });
    return { data: data, points: points, total: total, downsampled: downsampled };
  };

  MetricChart.prototype.render = function () {
    var self = this;
    var aligned = this.alignedData();
    this.card.dataset.points = String(aligned.points);
    this.card.dataset.total = String(aligned.total);
    this.card.dataset.range = this.range ? this.range.join(",") : "";
    this.meta.textContent = aligned.points.toLocaleString() + " of " + aligned.total.toLocaleString() +
      " points" + (aligned.downsampled ? " · downsampled" : "") + (this.range ? " · zoomed" : "");
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    var grid = css("--chart-grid"), axis = css("--chart-axis");
    var opts = {
      width: this.width(),
      height: this.options.height || 220,
      scales: {
        x: { time: settings.xMode === "time" },
        y: { distr: settings.log ? 3 : 1 },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid },
          // A label reserves a row of space: only the relative-time axis needs one.
          label: settings.xMode === "relative" ? "seconds since start" : undefined },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56 },
      ],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: this.series.length > 1 && !this.options.noLegend, live: false },
      series: [{ label: settings.xMode === "step" ? "step" : "time" }].concat(this.series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 1.6, spanGaps: true, points: { show: false } };
      })),
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 4) return;
          var lo = u.posToVal(u.select.left, "x");
          var hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          self.zoom(lo, hi);
        }],
      },
    };
    this.plot = new uPlot(opts, aligned.data, this.box);
    this.card.dataset.series = String(this.plot.series.length - 1);
  };

  // Map an x range of the current mode back to a step range, then fetch it at full detail.
  MetricChart.prototype.zoom = function (lo, hi) {
    var steps = [];
    var self = this;
    this.raw.forEach(function (answer, k) {
      if (!answer) return;
      for (var i = 0; i < answer.steps.length; i++) {
        var x = self.xOf(answer, i, self.series[k]);
        if (x >= lo && x <= hi) steps.push(answer.steps[i]);
      }
    });
    var start, end;
    if (settings.xMode === "step") { start = Math.floor(lo); end = Math.ceil(hi); }
    else if (steps.length) { start = Math.min.apply(null, steps); end = Math.max.apply(null, steps); }
    else return;
    if (end <= start) end = start + 1;
    this.range = [start, end];
    this.load();
  };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function initToolbar() {
    var x = document.getElementById("x-axis");
    var smoothing = document.getElementById("smoothing");
    var out = document.getElementById("smoothing-value");
    var log = document.getElementById("log-scale");
    if (x) x.addEventListener("change", function () {
      settings.xMode = x.value;
      charts.forEach(function (c) { c.range = null; c.render(); });
    });
    if (smoothing) smoothing.addEventListener("input", function () {
      settings.smoothing = parseFloat(smoothing.value) || 0;
      if (out) out.textContent = settings.smoothing.toFixed(2);
      charts.forEach(function (c) { c.render(); });
    });
    if (log) log.addEventListener("change", function () {
      settings.log = log.checked;
      charts.forEach(function (c) { c.render(); });
    });
    document.addEventListener("stackml:theme", function () { charts.forEach(function (c) { if (c.plot) c.render(); }); });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { charts.forEach(function (c) { c.load(); }); }, 250);
    });
  }

  // The run page: one chart per metric key, more keys per chart on request, live updates.
  function initRunPage() {
    var data = readJson("run-data");
    var host = document.getElementById("charts");
    if (!data || !host) return;
    var keys = data.keys.slice();
    var shown = false;
    function addChart(key) {
      var chart = new MetricChart(host, [{ runId: data.runId, key: key, label: key, color: "#4f6bff", startTime: data.startTime }],
        { addable: data.keys.filter(function (k) { return k !== key; }) });
      charts.push(chart);
      return chart;
    }
    function show() {
      if (shown) return;
      shown = true;
      keys.forEach(function (key) { addChart(key).load(); });
    }
    // Charts need a laid-out width: draw them when their tab is visible.
    var panel = document.getElementById("tab-charts");
    if (panel && !panel.hidden) show();
    document.addEventListener("stackml:tab", function (e) { if (e.detail === "charts") show(); });
    if (data.live) {
      var timer = setInterval(function () {
        fetch("/api/v1/runs/" + encodeURIComponent(data.runId), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (run) {
            if (!run) return;
            Object.keys(run.metrics || {}).sort().forEach(function (key) {
              if (keys.indexOf(key) < 0) { keys.push(key); data.keys.push(key); if (shown) addChart(key).load(); }
            });
            charts.forEach(function (c) { if (!c.range) c.load(); });
            if (run.status !== "running") {
              clearInterval(timer);
              var pill = document.getElementById("live-pill");
              if (pill) pill.remove();
              var badge = document.querySelector("#run-status .badge");
              if (badge) { badge.className = "badge badge-" + run.status; badge.lastChild.textContent = run.status; }
            }
          });
      }, LIVE_INTERVAL_MS);
    }
  }

  // The compare page: one chart per metric key, one series per run in its colour.
  function initComparePage() {
    var data = readJson("compare-data");
    var host = document.getElementById("charts");
    if (!data || !host) return;
    data.metricKeys.forEach(function (key) {
      var series = data.runs.filter(function (r) { return key in r.metrics; }).map(function (r) {
        return { runId: r.id, key: key, label: r.name, color: r.color, startTime: r.startTime };
      });
      var chart = new MetricChart(host, series, { noLegend: true });
      chart.title.textContent = key;
      charts.push(chart);
      chart.load();
    });
  }

  window.StackmlCharts = { MetricChart: MetricChart, settings: settings, charts: charts };

  document.addEventListener("DOMContentLoaded", function () {
    initToolbar();
    initRunPage();
    initComparePage();
  });
})();
