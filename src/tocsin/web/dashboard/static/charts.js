// The stats page's charts: the series embedded in <script type="application/json"
// id="chart-data"> drawn with uPlot into each <figure data-chart="name">.
// Text from the page's data (receiver names) reaches the page only through uPlot's
// legend, which sets textContent; nothing here writes HTML.
(function () {
  "use strict";
  var PALETTE = ["#2f7ed8", "#d9534f", "#5cb85c", "#f0ad4e", "#8e44ad", "#16a085", "#c0392b", "#7f8c8d"];

  function duration(s) {
    if (s == null) return "-";
    s = Math.max(0, Math.round(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + (s % 60) + "s";
    return s + "s";
  }

  function formatter(unit) {
    if (unit === "duration") return duration;
    if (unit === "percent") return function (v) { return v == null ? "-" : v.toFixed(1) + "%"; };
    return function (v) { return v == null ? "-" : String(v); };
  }

  function options(spec, width, ink, tz) {
    var fmt = formatter(spec.unit);
    var bars = spec.kind === "bars" && uPlot.paths && uPlot.paths.bars;
    var series = [{}];
    spec.series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      series.push({
        label: s.label, stroke: color, width: 2, spanGaps: false,
        fill: bars ? color + "99" : undefined,
        paths: bars ? uPlot.paths.bars({size: [0.9, 40], gap: 1}) : undefined,
        points: {show: !bars && s.values.filter(function (v) { return v != null; }).length < 60},
        value: function (u, v) { return fmt(v); }
      });
    });
    var grid = {stroke: ink + "22"};
    var opts = {
      width: width, height: 240, series: series,
      scales: spec.unit === "percent" ? {y: {range: [0, 100]}} : {},
      axes: [
        {stroke: ink, grid: grid, ticks: grid},
        {stroke: ink, grid: grid, ticks: grid, size: 64,
         values: function (u, vals) { return vals.map(fmt); }}
      ]
    };
    if (tz && uPlot.tzDate) {  // the page's time zone, not the browser's
      opts.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), tz); };
    }
    return opts;
  }

  function empty(spec) {
    return !spec || !spec.series.length || spec.series.every(function (s) {
      return s.values.every(function (v) { return v == null; });
    });
  }

  function draw(figure, spec, ink, tz) {
    var plot = figure.querySelector(".chart-plot");
    if (!plot) return;
    if (empty(spec)) {
      plot.textContent = figure.getAttribute("data-empty") || "Nothing to draw in this window.";
      plot.classList.add("empty");
      return;
    }
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var width = function () { return Math.max(240, plot.clientWidth || figure.clientWidth || 600); };
    var chart = new uPlot(options(spec, width(), ink, tz), data, plot);
    figure.classList.add("drawn");
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) { cancelAnimationFrame(pending); }
      pending = requestAnimationFrame(function () { chart.setSize({width: width(), height: 240}); });
    });
  }

  function start() {
    var holder = document.getElementById("chart-data");
    if (!holder || typeof uPlot === "undefined") return;
    var all = JSON.parse(holder.textContent || "{}");
    var tz = all.tz || "";
    var ink = getComputedStyle(document.body).color || "#333";
    if (ink.indexOf("rgb(") === 0) {  // "rgb(r, g, b)" as #rrggbb, so a grid alpha can be added
      ink = "#" + ink.slice(4, -1).split(",").map(function (c) {
        return ("0" + parseInt(c, 10).toString(16)).slice(-2);
      }).join("");
    }
    document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      draw(figure, all[figure.getAttribute("data-chart")], ink, tz);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
