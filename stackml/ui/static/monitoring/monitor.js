// Monitoring dashboard charts (uPlot): drift statistic per feature over windows, performance
// and operational figures. The data is embedded in the page as JSON (no extra request).
(function () {
  "use strict";

  var PALETTE = ["#4f6bff", "#eb5757", "#27ae60", "#f2994a", "#9b51e0", "#2d9cdb", "#c2185b",
    "#00897b", "#8d6e63", "#7cb342"];

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function draw(hostId, x, named, opts) {
    var host = document.getElementById(hostId);
    if (!host || typeof uPlot === "undefined") return;
    var keys = Object.keys(named).filter(function (k) {
      return named[k].some(function (v) { return v !== null && v !== undefined; });
    });
    if (!x.length || !keys.length) {
      host.innerHTML = '<p class="empty">Nothing to plot yet.</p>';
      host.style.minHeight = "0";
      return;
    }
    var axis = css("--chart-axis"), grid = css("--chart-grid");
    var series = [{}].concat(keys.map(function (k, i) {
      return { label: k, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
        points: { show: x.length < 60, size: 5 } };
    }));
    var data = [x].concat(keys.map(function (k) {
      return named[k].map(function (v) { return v === undefined ? null : v; });
    }));
    var plot = new uPlot({
      width: host.clientWidth || 600,
      height: opts.height || 260,
      series: series,
      scales: { x: { time: true } },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56 },
      ],
      legend: { show: true, live: false },
    }, data, host);
    host.dataset.series = String(keys.length);
    // Keep the chart as wide as its card.
    window.addEventListener("resize", function () {
      plot.setSize({ width: host.clientWidth, height: opts.height || 260 });
    });
  }

  function start() {
    var node = document.getElementById("monitor-data");
    if (!node) return;
    var d = JSON.parse(node.textContent);
    draw("drift-chart", d.x, d.drift, { height: 280 });
    draw("perf-chart", d.x, d.performance, { height: 200 });
    draw("ops-chart", d.x, d.operational, { height: 200 });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
