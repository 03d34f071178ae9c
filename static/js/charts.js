// Charts of the device page: one per quantity, the mean as a line and the minimum to
// maximum as a band, from /api/v1/devices/{name}/series. Empty buckets are null, and
// uPlot leaves a gap there instead of drawing a line across the outage. While the
// range ends now, the points the server pushes (SSE "points") are folded into the
// last bucket or start new ones, so the chart moves with the data.
//
// Each points event is folded once: its id is remembered, so a replayed one changes
// nothing. An answer older than the one a chart has drawn is dropped, and points that
// come while a fetch runs are folded into its answer. The readings of the last second or so
// reach the server's rollups a moment after their points are pushed, so the newest
// bucket can be off by them after a fetch: a live chart fetches again a few seconds
// after each new stream, and every minute, and is exact again.
(function () {
  "use strict";
  var page, charts = [], folded = { run: "", sequence: 0 }, settleTimer = null;
  var SETTLE_MS = 3000, RESYNC_MS = 60000, RELOAD_GUARD_MS = 30000;
  var fullTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function api(kind, params) {
    return "/api/v1/devices/" + encodeURIComponent(page.dataset.device) + "/" + kind + "?" +
      params;
  }

  // The query of a chart: the CSV link asks exactly this, so it holds what is drawn.
  function seriesParams(chart) {
    return new URLSearchParams({
      quantity: chart.quantity,
      from: page.dataset.from,
      to: page.dataset.to,
      max_points: String(Math.max(60, Math.min(1000, Math.round(chart.element.clientWidth))))
    });
  }

  function describeRange(chart) {
    chart.element.setAttribute("aria-label", chart.label + " from " +
      fullTime.format(new Date(page.dataset.from)) + " to " +
      fullTime.format(new Date(page.dataset.to)) +
      ": the line is the mean, the band the minimum to maximum, gaps are times without readings");
  }

  // Axis labels in the viewer's language and time zone: times of day for a range of
  // up to two days, dates beyond.
  function timeLabels(u, splits) {
    var span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
    var format = span <= 2 * 86400 ? clock : day;
    return splits.map(function (t) { return format.format(new Date(t * 1000)); });
  }

  function columns(body) {
    var t = [], low = [], high = [], mean = [], count = [];
    body.buckets.forEach(function (b) {
      t.push(Date.parse(b.t) / 1000);
      low.push(b.min); high.push(b.max); mean.push(b.mean); count.push(b.count);
    });
    return { t: t, low: low, high: high, mean: mean, count: count, width: body.bucket_seconds };
  }

  // A bucket with empty neighbours has no line to be part of: mark it with a dot.
  function isolated(u, seriesIndex) {
    var values = u.data[seriesIndex], shown = [];
    for (var i = 0; i < values.length; i++) {
      if (values[i] !== null && (i === 0 || values[i - 1] === null) &&
          (i === values.length - 1 || values[i + 1] === null)) shown.push(i);
    }
    return shown;
  }

  function draw(chart) {
    var data = chart.data;
    var columnsData = [data.t, data.low, data.high, data.mean];
    if (chart.plot) { chart.plot.setData(columnsData); return; }
    var accent = css("--accent"), band = css("--band"), text = css("--text"), line = css("--line");
    var axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
    chart.plot = new uPlot({
      width: chart.element.clientWidth,
      height: 260,
      scales: { x: { time: true } },
      legend: { live: true },
      series: [
        { value: function (u, t) { return t == null ? "–" : fullTime.format(new Date(t * 1000)); } },
        { label: "Min", stroke: "transparent", points: { show: false } },
        { label: "Max", stroke: "transparent", points: { show: false } },
        { label: "Mean", stroke: accent, width: 2, points: { show: true, size: 5, filter: isolated } }
      ],
      bands: [{ series: [2, 1], fill: band }],
      axes: [Object.assign({}, axis, { values: timeLabels }),
             Object.assign({}, axis, { label: chart.unit })]
    }, columnsData, chart.element);
  }

  function load(chart) {
    var params = seriesParams(chart);
    var attempt = chart.attempts = (chart.attempts || 0) + 1;
    chart.inflight = chart.inflight || {};
    chart.inflight[attempt] = [];  // points pushed while this fetch runs
    return fetch(api("series", params))
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        var waiting = chart.inflight[attempt];
        // An answer older than the one drawn is dropped; any newer one is drawn at
        // once (the first draw does not wait for a later fetch to come back).
        if (!body || !waiting || attempt <= (chart.drawn || 0)) return;
        Object.keys(chart.inflight).forEach(function (key) {
          if (Number(key) <= attempt) delete chart.inflight[key];
        });
        chart.drawn = attempt;
        chart.unit = body.unit || "";
        chart.data = columns(body);
        chart.span = (Date.parse(body.to) - Date.parse(body.from)) / 1000;
        waiting.forEach(function (span) { foldInto(chart, span); });
        draw(chart);
        chart.csv.href = api("series.csv", params);
        params.delete("max_points");
        chart.raw.href = api("raw.csv", params);
        describeRange(chart);
        chart.element.dataset.state = "drawn";  // for tests and measurements
      });
  }

  // Pushed spans of readings, each within one minute (so within one bucket):
  // [first ms, last ms, min, max, sum, count]. Fetches still running get them too, to
  // fold into their answers.
  function fold(chart, spans) {
    var changed = false;
    spans.forEach(function (span) {
      Object.keys(chart.inflight || {}).forEach(function (key) { chart.inflight[key].push(span); });
      changed = foldInto(chart, span) || changed;
    });
    if (changed) draw(chart);
  }

  function foldInto(chart, span) {
    var d = chart.data;
    if (!d || !d.width) return false;
    var width = d.width, start = Math.floor(span[1] / 1000 / width) * width;
    var last = d.t.length ? d.t[d.t.length - 1] : start - width;
    if (start < last) return false;  // a late reading: the next reload shows it
    if (start === last) {
      var i = d.t.length - 1, n = d.count[i] || 0;
      d.low[i] = d.low[i] === null ? span[2] : Math.min(d.low[i], span[2]);
      d.high[i] = d.high[i] === null ? span[3] : Math.max(d.high[i], span[3]);
      d.mean[i] = ((d.mean[i] || 0) * n + span[4]) / (n + span[5]);
      d.count[i] = n + span[5];
    } else {
      for (var t = last + width; t < start; t += width) {  // silent buckets stay gaps
        d.t.push(t); d.low.push(null); d.high.push(null); d.mean.push(null); d.count.push(0);
      }
      d.t.push(start); d.low.push(span[2]); d.high.push(span[3]);
      d.mean.push(span[4] / span[5]); d.count.push(span[5]);
    }
    while (d.t.length && d.t[0] < start - chart.span) {
      d.t.shift(); d.low.shift(); d.high.shift(); d.mean.shift(); d.count.shift();
    }
    return true;
  }

  // Event ids are "<run>-<sequence>"; a new run is a restarted server.
  function parseId(id) {
    var dash = (id || "").lastIndexOf("-");
    return dash < 0 ? null : { run: id.slice(0, dash), sequence: Number(id.slice(dash + 1)) };
  }

  function onPoints(event) {
    if (page.dataset.live !== "true") return;
    var id = parseId(event.detail.lastEventId);
    if (id && id.run === folded.run && id.sequence <= folded.sequence) return;  // a replay
    if (id) folded = id;
    var points = JSON.parse(event.detail.data);
    var known = charts.map(function (chart) { return chart.quantity; });
    var unknown = Object.keys(points).filter(function (q) { return known.indexOf(q) < 0; });
    if (unknown.length && reloadOnce(unknown)) return;  // a quantity with no chart yet
    charts.forEach(function (chart) {
      if (points[chart.quantity]) fold(chart, points[chart.quantity]);
    });
  }

  // Reload the page for quantities it has no chart for, once: should the page and the
  // stream ever disagree, the page must not reload at every tick.
  function reloadOnce(quantities) {
    var key = "telemetry-reloaded:" + page.dataset.device + ":" + quantities.sort().join(",");
    var before = Number(window.sessionStorage.getItem(key) || 0);
    if (Date.now() - before < RELOAD_GUARD_MS) return false;
    window.sessionStorage.setItem(key, String(Date.now()));
    window.location.reload();
    return true;
  }

  function moveWindowToNow() {
    var span = Date.parse(page.dataset.to) - Date.parse(page.dataset.from);
    var now = new Date();
    page.dataset.to = now.toISOString();
    page.dataset.from = new Date(now.getTime() - span).toISOString();
  }

  function reload(event) {
    var id = parseId(event && event.detail && event.detail.lastEventId);
    if (id) folded = id;  // the snapshot stands for everything up to its id
    if (page.dataset.live === "true") {
      moveWindowToNow();
      window.clearTimeout(settleTimer);
      settleTimer = window.setTimeout(function () { charts.forEach(load); }, SETTLE_MS);
    }
    charts.forEach(load);
  }

  function localInput(iso) {
    var moment = new Date(iso);
    if (isNaN(moment)) return "";
    var local = new Date(moment.getTime() - moment.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 16);
  }

  function customRange(form) {
    form.elements.from_local.value = localInput(page.dataset.from);
    form.elements.to_local.value = localInput(page.dataset.to);
    form.addEventListener("submit", function () {
      ["from", "to"].forEach(function (name) {
        var local = form.elements[name + "_local"];
        if (local.value) form.elements[name].value = new Date(local.value).toISOString();
        local.disabled = true;
        if (!form.elements[name].value) form.elements[name].disabled = true;
      });
    });
  }

  // The readings each chart holds, summed (read by the browser tests).
  window.chartCounts = function () {
    return charts.reduce(function (sum, chart) {
      return sum + (chart.data ? chart.data.count.reduce(function (a, b) { return a + b; }, 0) : 0);
    }, 0);
  };

  document.addEventListener("DOMContentLoaded", function () {
    page = document.getElementById("device-page");
    if (!page) return;
    document.querySelectorAll(".chart").forEach(function (section) {
      var chart = {
        quantity: section.dataset.quantity,
        label: section.dataset.label,
        element: section.querySelector(".plot"),
        csv: section.querySelector("a[data-export=series]"),
        raw: section.querySelector("a[data-export=raw]")
      };
      charts.push(chart);
      load(chart);
    });
    var feed = document.getElementById("live-feed");
    feed.addEventListener("sse:points", onPoints);
    feed.addEventListener("sse:resync", reload);
    if (page.dataset.live === "true") {
      window.setInterval(function () { moveWindowToNow(); charts.forEach(load); }, RESYNC_MS);
    }
    var form = document.querySelector("form.ranges");
    if (form) customRange(form);
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) {
        if (chart.plot) chart.plot.setSize({ width: chart.element.clientWidth, height: 260 });
      });
    });
  });
})();
