// The compare page's plots of params against metrics.
//
// Parallel coordinates: one vertical axis per param (numeric params scaled linearly, others
// placed as categories) plus the chosen metric as the last axis; each run is a polyline in its
// colour. Drawn on a plain canvas: a handful of runs needs no library.
// Scatter: any two columns (params that are numbers, or latest metric values) on uPlot.
(function () {
  "use strict";

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function asNumber(v) {
    if (v === null || v === undefined || v === "") return null;
    var n = Number(v);
    return isFinite(n) ? n : null;
  }

  // Columns: every param and every metric, each with a getter from a run.
  function columns(data) {
    var cols = [];
    data.paramKeys.forEach(function (k) {
      cols.push({ id: "param:" + k, label: k, kind: "param", get: function (r) { return r.params[k]; } });
    });
    data.metricKeys.forEach(function (k) {
      cols.push({ id: "metric:" + k, label: k, kind: "metric", get: function (r) { return r.metrics[k]; } });
    });
    return cols;
  }

  // An axis maps a column's values to [0, 1]: linear for numbers, evenly spaced categories else.
  function axisFor(col, runs) {
    var values = runs.map(col.get);
    var numbers = values.map(asNumber);
    var numeric = values.every(function (v, i) { return v === undefined || v === null || numbers[i] !== null; });
    if (numeric) {
      var present = numbers.filter(function (n) { return n !== null; });
      var lo = Math.min.apply(null, present), hi = Math.max.apply(null, present);
      if (!present.length) { lo = 0; hi = 1; }
      return { col: col, lo: lo, hi: hi, pos: function (r) {
        var n = asNumber(col.get(r));
        if (n === null) return null;
        return hi === lo ? 0.5 : (n - lo) / (hi - lo);
      }, ticks: [[0, fmt(lo)], [1, fmt(hi)]] };
    }
    var cats = [];
    values.forEach(function (v) { if (v !== undefined && v !== null && cats.indexOf(String(v)) < 0) cats.push(String(v)); });
    cats.sort();
    return { col: col, pos: function (r) {
      var v = col.get(r);
      if (v === undefined || v === null) return null;
      return cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1);
    }, ticks: cats.map(function (c, i) { return [cats.length < 2 ? 0.5 : i / (cats.length - 1), c]; }) };
  }

  function fmt(n) {
    if (!isFinite(n)) return String(n);
    var a = Math.abs(n);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? n.toExponential(2) : String(Math.round(n * 1e4) / 1e4);
  }

  function drawParallel(canvas, data, metricKey) {
    var dpr = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || 480, height = 300;
    canvas.width = width * dpr; canvas.height = height * dpr;
    canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    // Params that differ between runs (all of them when none differ), then the metric.
    var varying = data.paramKeys.filter(function (k) {
      var seen = {}; data.runs.forEach(function (r) { seen[String(r.params[k])] = 1; });
      return Object.keys(seen).length > 1;
    });
    var keys = (varying.length ? varying : data.paramKeys).slice(0, 8);
    var cols = keys.map(function (k) {
      return { label: k, get: function (r) { return r.params[k]; } };
    });
    if (metricKey) cols.push({ label: metricKey, get: function (r) { return r.metrics[metricKey]; }, metric: true });
    if (cols.length < 2) {
      ctx.fillStyle = css("--muted"); ctx.font = "13px " + css("--font-sans");
      ctx.fillText("Needs at least two params or a metric that differ.", 16, 30);
      canvas.dataset.axes = String(cols.length);
      return;
    }
    var axes = cols.map(function (c) { return axisFor(c, data.runs); });
    var top = 34, bottom = height - 30, left = 40, right = width - 60;
    var xAt = function (i) { return left + (right - left) * i / (axes.length - 1); };
    var yAt = function (p) { return bottom - (bottom - top) * p; };
    ctx.font = "12px " + css("--font-sans");
    axes.forEach(function (axis, i) {
      ctx.strokeStyle = css("--border-strong"); ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(xAt(i), top); ctx.lineTo(xAt(i), bottom); ctx.stroke();
    });
    data.runs.forEach(function (run) {
      ctx.strokeStyle = run.color; ctx.lineWidth = 2; ctx.globalAlpha = 0.9;
      ctx.beginPath();
      var pen = false;
      axes.forEach(function (axis, i) {
        var p = axis.pos(run);
        if (p === null) { pen = false; return; }
        if (pen) ctx.lineTo(xAt(i), yAt(p)); else ctx.moveTo(xAt(i), yAt(p));
        pen = true;
      });
      ctx.stroke();
      ctx.globalAlpha = 1;
    });
    axes.forEach(function (axis, i) {
      var x = xAt(i);
      ctx.fillStyle = axis.col.metric ? css("--accent") : css("--text");
      ctx.textAlign = "center";
      ctx.fillText(axis.col.label.length > 18 ? axis.col.label.slice(0, 17) + "…" : axis.col.label, x, top - 14);
      ctx.textAlign = "left";
      axis.ticks.forEach(function (t) {
        // Tick labels sit on a small plate so crossing lines never make them unreadable.
        var text = t[1].length > 10 ? t[1].slice(0, 9) + "…" : t[1];
        var w = ctx.measureText(text).width;
        ctx.fillStyle = css("--surface");
        ctx.fillRect(x + 3, yAt(t[0]) - 8, w + 6, 16);
        ctx.fillStyle = css("--muted");
        ctx.fillText(text, x + 6, yAt(t[0]) + 4);
      });
    });
    canvas.dataset.axes = String(axes.length);
  }

  function fillSelect(select, cols, chosen) {
    select.textContent = "";
    cols.forEach(function (c) {
      var opt = document.createElement("option");
      opt.value = c.id; opt.textContent = (c.kind === "metric" ? "metric · " : "param · ") + c.label;
      if (c.id === chosen) opt.selected = true;
      select.appendChild(opt);
    });
  }

  var scatterPlot = null;
  function drawScatter(box, data, xCol, yCol) {
    if (scatterPlot) { scatterPlot.destroy(); scatterPlot = null; }
    box.textContent = "";
    if (!xCol || !yCol) { box.textContent = "Needs two numeric columns."; return; }
    var pts = data.runs.map(function (r) { return { r: r, x: asNumber(xCol.get(r)), y: asNumber(yCol.get(r)) }; })
      .filter(function (p) { return p.x !== null && p.y !== null; })
      .sort(function (a, b) { return a.x - b.x; });
    box.dataset.points = String(pts.length);
    var grid = css("--chart-grid"), axis = css("--chart-axis");
    // One series per run so each point keeps its run's colour and name in the legend.
    var xs = pts.map(function (p) { return p.x; });
    var series = [{ label: xCol.label }];
    var ys = [xs];
    pts.forEach(function (p, i) {
      var col = xs.map(function (_, j) { return j === i ? p.y : null; });
      ys.push(col);
      series.push({ label: p.r.name, stroke: p.r.color, fill: p.r.color, width: 0,
        points: { show: true, size: 11, width: 2, stroke: p.r.color, fill: p.r.color } });
    });
    scatterPlot = new uPlot({
      width: Math.max(240, box.clientWidth || 480), height: 300,
      scales: { x: { time: false } },
      axes: [
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid }, label: xCol.label },
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid }, label: yCol.label, size: 60 },
      ],
      legend: { show: false },
      series: series,
    }, ys, box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("compare-data");
    if (!node) return;
    var data = JSON.parse(node.textContent);
    var cols = columns(data);
    var canvas = document.getElementById("parallel");
    var pcSelect = document.getElementById("pc-metric");
    var metricCols = cols.filter(function (c) { return c.kind === "metric"; });
    fillSelect(pcSelect, metricCols, metricCols.length ? metricCols[0].id : null);
    function redrawParallel() {
      drawParallel(canvas, data, pcSelect.value ? pcSelect.value.slice("metric:".length) : null);
    }
    pcSelect.addEventListener("change", redrawParallel);

    var numeric = cols.filter(function (c) {
      return data.runs.some(function (r) { return asNumber(c.get(r)) !== null; });
    });
    var sx = document.getElementById("scatter-x"), sy = document.getElementById("scatter-y");
    var firstParam = numeric.find(function (c) { return c.kind === "param"; }) || numeric[0];
    var firstMetric = numeric.find(function (c) { return c.kind === "metric"; }) || numeric[1];
    fillSelect(sx, numeric, firstParam && firstParam.id);
    fillSelect(sy, numeric, firstMetric && firstMetric.id);
    function byId(id) { return numeric.find(function (c) { return c.id === id; }); }
    var box = document.getElementById("scatter");
    function redrawScatter() { drawScatter(box, data, byId(sx.value), byId(sy.value)); }
    sx.addEventListener("change", redrawScatter);
    sy.addEventListener("change", redrawScatter);

    redrawParallel();
    redrawScatter();
    document.addEventListener("stackml:theme", function () { redrawParallel(); redrawScatter(); });
    window.addEventListener("resize", function () { redrawParallel(); redrawScatter(); });
  });
})();
