// Charts of the device page: one per quantity, the mean as a line and the minimum to
// maximum as a band, from /api/v1/devices/{name}/series. Empty buckets are null, and
// uPlot leaves a gap there instead of drawing a line across the outage.
//
// While the range ends now, the stream keeps the newest buckets current. Its "points"
// frames carry, for each minute that changed, that minute's whole aggregate as the
// server's live view holds it ([minute ms, min, max, sum, count]); its snapshot carries
// every minute of the last hour, and `window`, the first minute the server holds
// completely. A bucket of at most an hour that starts at or after `window` is computed
// from those minutes, exactly as the history computes it from the rollups, so a chart
// and a fresh fetch agree: frames replace rather than add, and a replayed frame, a
// frame that crosses a fetch, or a fetch that misses the last second's readings change
// nothing; where a fetch holds more readings than the live minutes (a stream that fell
// behind), the fetch wins. Wider buckets (ranges of months) move at the next fetch,
// every minute.
(function () {
  "use strict";
  var page, charts = [], liveWindow = 0;
  var SPAN_STEPS = 10, RESYNC_MS = 60000, RELOAD_GUARD_MS = 30000, MINUTE_MS = 60000, HOUR_S = 3600;
  var fullTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
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

  // The stored values in the unit the viewer chose; null (a gap) stays null.
  function shownColumns(chart) {
    var convert = chart.shown.convert, d = chart.data;
    function each(values) {
      return values.map(function (v) { return v === null ? null : convert(v); });
    }
    return [d.t, each(d.low), each(d.high), each(d.mean)];
  }

  // Steps a label can state exactly at the shown precision: 1, 2 and 5 times a power of
  // ten down to one unit of it, and 2.5 times one only where that has no more decimals
  // (a tick at 20.25 labelled "20.3" would misstate where it is).
  function valueSteps(precision) {
    var steps = [];
    for (var e = -precision; e <= 6; e++) {
      [1, 2, 5].forEach(function (m) { steps.push(m * Math.pow(10, e)); });
      if (e > -precision) steps.push(2.5 * Math.pow(10, e));
    }
    return steps.sort(function (a, b) { return a - b; });
  }

  // At least a few steps of the precision tall, so a steady value is a level line in
  // the middle, not one pinned to an axis that runs from zero.
  function valueRange(precision) {
    var least = SPAN_STEPS * Math.pow(10, -precision);
    return function (u, min, max) {
      if (min === null || max === null) return [0, 1];
      if (max - min < least) {
        var middle = (max + min) / 2;
        min = middle - least / 2;
        max = middle + least / 2;
      }
      return uPlot.rangeNum(min, max, 0.1, true);
    };
  }

  // The value axis is as wide as its widest label, whatever the language and unit.
  function valueAxisSize(u, values, axisIndex, cycle) {
    var axis = u.axes[axisIndex];
    if (cycle > 1) return axis._size;
    var widest = 0;
    u.ctx.font = axis.font[0];
    (values || []).forEach(function (text) {
      widest = Math.max(widest, u.ctx.measureText(text).width / devicePixelRatio);
    });
    return Math.ceil(widest + axis.ticks.size + axis.gap + 6);
  }

  // The line under a chart's title: the hovered bucket, or else the newest with data.
  function describeBucket(chart, index) {
    var d = chart.data, shown = chart.shown, latest = "";
    if (index === null || index === undefined) {
      for (index = d.t.length - 1; index >= 0 && !d.count[index]; index--);
      if (index < 0) return "";
      latest = "Newest: ";
    }
    var when = bucketTime(d.t[index], d.width);
    if (!d.count[index]) return when + ": no readings";
    function value(v) { return TelemetryUnits.number(shown.convert(v), shown.precision); }
    var unit = shown.unit ? " " + shown.unit : "";
    var text = latest + when + " · mean " + value(d.mean[index]) + unit;
    if (d.count[index] > 1) text += " (" + value(d.low[index]) + " to " + value(d.high[index]) + ")";
    return text + " · " + d.count[index] + (d.count[index] === 1 ? " reading" : " readings");
  }

  // A bucket wider than a minute is named by its start and end ("Nov 27, 12:00 AM to
  // 6:00 AM"): its start alone would look like the time of a reading.
  function bucketTime(start, width) {
    var from = new Date(start * 1000);
    // Today's times need no date: the read-out stays on one line on most screens.
    var first = from.toDateString() === new Date().toDateString() ? clock : fullTime;
    if (!width || width <= 60) return first.format(from);
    var to = new Date((start + width) * 1000);
    var sameDay = from.toDateString() === new Date(to.getTime() - 1).toDateString();
    return first.format(from) + " to " + (sameDay ? clock : fullTime).format(to);
  }

  function showReadout(chart, index) {
    chart.readout.textContent = describeBucket(chart, index);
  }

  function draw(chart) {
    var empty = !chart.data.count.some(function (c) { return c > 0; });
    chart.empty.hidden = !empty;
    chart.shown = TelemetryUnits.display(chart.unit, chart.precision);
    if (chart.plot) {
      chart.plot.setData(shownColumns(chart));
      showReadout(chart, chart.plot.cursor.idx);
      return;
    }
    var accent = css("--accent"), band = css("--band"), muted = css("--muted"), line = css("--line");
    var axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, size: 4 } };
    var precision = chart.shown.precision;
    chart.plot = new uPlot({
      width: chart.element.clientWidth,
      height: plotHeight(),
      scales: { x: { time: true }, y: { range: valueRange(precision) } },
      legend: { show: false },
      cursor: { y: false },
      // Chart notes (notes.js): markers over the data, a band for a range.
      plugins: window.TelemetryNotes ? [window.TelemetryNotes.plugin()] : [],
      series: [
        {},
        { label: "Min", stroke: "transparent", points: { show: false } },
        { label: "Max", stroke: "transparent", points: { show: false } },
        { label: "Mean", stroke: accent, width: 2, points: { show: true, size: 6, fill: accent, filter: isolated } }
      ],
      bands: [{ series: [2, 1], fill: band }],
      axes: [
        Object.assign({}, axis, { values: timeLabels, space: 72, size: 34 }),
        Object.assign({}, axis, {
          size: valueAxisSize,
          incrs: valueSteps(precision),
          values: function (u, splits) {
            // An empty range has no values to scale: no made-up 0 to 1 axis.
            if (chart.empty && !chart.empty.hidden) return splits.map(function () { return ""; });
            return splits.map(function (v) { return TelemetryUnits.number(v, precision); });
          }
        })
      ],
      hooks: { setCursor: [function (u) { showReadout(chart, u.cursor.idx); }] }
    }, shownColumns(chart), chart.element);
    chart.element.chart = chart.plot;  // for the browser tests
    showReadout(chart, null);
  }

  // Built again, not only refreshed: the axes' colours, steps and sizes change too.
  function redraw() {
    charts.forEach(function (chart) {
      if (!chart.plot) return;
      chart.plot.destroy();
      chart.plot = null;
      draw(chart);
    });
  }

  function plotHeight() {
    return window.matchMedia("(max-width: 600px)").matches ? 220 : 260;
  }

  function load(chart) {
    var params = seriesParams(chart);
    var attempt = chart.attempts = (chart.attempts || 0) + 1;
    return fetch(api("series", params))
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        // An answer older than the one drawn is dropped; any newer one is drawn at
        // once (the first draw does not wait for a later fetch to come back).
        if (!body || attempt <= (chart.drawn || 0)) return;
        chart.drawn = attempt;
        chart.data = columns(body);
        chart.base = {};  // the fetched buckets by start, to compare the live ones with
        chart.data.t.forEach(function (t, i) {
          chart.base[t] = [chart.data.low[i], chart.data.high[i], chart.data.mean[i],
            chart.data.count[i]];
        });
        chart.span = (Date.parse(body.to) - Date.parse(body.from)) / 1000;
        applyLive(chart);
        draw(chart);
        chart.csv.href = api("series.csv", params);
        params.delete("max_points");
        chart.raw.href = api("raw.csv", params);
        describeRange(chart);
        chart.element.dataset.state = "drawn";  // for tests and measurements
      });
  }

  // The buckets the live minutes determine: from the first complete one on, for
  // buckets of at most an hour (the server's live view keeps an hour of minutes).
  function applyLive(chart) {
    var d = chart.data, width = d && d.width;
    if (!width || width > HOUR_S || !liveWindow || page.dataset.live !== "true") return false;
    var minutes = Object.keys(chart.live).map(Number).sort(function (a, b) { return a - b; });
    if (!minutes.length) return false;
    var first = Math.ceil(liveWindow / 1000 / width) * width;  // whole buckets only
    var newest = Math.floor(minutes[minutes.length - 1] / 1000 / width) * width;
    var last = d.t.length ? d.t[d.t.length - 1] : newest - width;
    for (var t = last + width; t <= newest; t += width) {  // silent buckets stay gaps
      d.t.push(t); d.low.push(null); d.high.push(null); d.mean.push(null); d.count.push(0);
    }
    var sums = {};
    minutes.forEach(function (minute) {
      var start = Math.floor(minute / 1000 / width) * width, m = chart.live[minute];
      if (start < first) return;
      var b = sums[start] || (sums[start] = [Infinity, -Infinity, 0, 0]);
      b[0] = Math.min(b[0], m[0]); b[1] = Math.max(b[1], m[1]); b[2] += m[2]; b[3] += m[3];
    });
    for (var i = 0; i < d.t.length; i++) {
      if (d.t[i] < first) continue;
      // The history can only lag (its rollups are written about once a second) and the
      // live minutes can only miss readings (a stream that was dropped or fell behind):
      // whichever holds more readings is the truer one.
      var b = sums[d.t[i]], fetched = (chart.base || {})[d.t[i]];
      if (fetched && fetched[3] > (b ? b[3] : 0)) {
        d.low[i] = fetched[0]; d.high[i] = fetched[1]; d.mean[i] = fetched[2];
        d.count[i] = fetched[3];
        continue;
      }
      d.low[i] = b ? b[0] : null; d.high[i] = b ? b[1] : null;
      d.mean[i] = b ? b[2] / b[3] : null; d.count[i] = b ? b[3] : 0;
    }
    while (d.t.length && d.t[0] < d.t[d.t.length - 1] - chart.span) {
      d.t.shift(); d.low.shift(); d.high.shift(); d.mean.shift(); d.count.shift();
    }
    return true;
  }

  // {"window": ms, "quantities": {"temperature": [[minute ms, min, max, sum, count]]}}
  function onPoints(event) {
    var frame = JSON.parse(event.detail.data);
    liveWindow = Math.max(liveWindow, frame.window || 0);
    var known = charts.map(function (chart) { return chart.quantity; });
    var unknown = Object.keys(frame.quantities).filter(function (q) { return known.indexOf(q) < 0; });
    if (unknown.length && page.dataset.live === "true" && reloadOnce(unknown)) return;
    charts.forEach(function (chart) {
      (frame.quantities[chart.quantity] || []).forEach(function (m) {
        chart.live[m[0]] = [m[1], m[2], m[3], m[4]];
      });
      Object.keys(chart.live).forEach(function (minute) {  // what the server let go of
        if (Number(minute) < liveWindow) delete chart.live[minute];
      });
      if (applyLive(chart)) draw(chart);
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

  // A new stream (first connection, or a reconnect that needed a snapshot): its
  // snapshot's points came just before; fetch the range up to now again.
  function reload() {
    if (page.dataset.live === "true") moveWindowToNow();
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
    var to = form.elements.to_local;
    function check() {  // a range that is not one is refused here, not by the server
      var a = Date.parse(form.elements.from_local.value), b = Date.parse(to.value);
      to.setCustomValidity(!isNaN(a) && !isNaN(b) && b <= a ? "“To” must be after “From”." : "");
    }
    form.elements.from_local.addEventListener("input", check);
    to.addEventListener("input", check);
    form.addEventListener("submit", function () {
      ["from", "to"].forEach(function (name) {
        var local = form.elements[name + "_local"];
        if (local.value) form.elements[name].value = new Date(local.value).toISOString();
        local.disabled = true;
        if (!form.elements[name].value) form.elements[name].disabled = true;
      });
    });
  }

  // A page opened without a range shows the one the server chose for the device's data:
  // the address says which, so a reload or a shared link shows the same.
  function keepRangeInAddress() {
    var range = page.dataset.range, url = new URL(window.location.href);
    if (!range || url.searchParams.has("range") || url.searchParams.has("from")) return;
    url.searchParams.set("range", range);
    window.history.replaceState(window.history.state, "", url);
  }

  // Where each chart's value-axis labels and unit caption are, in CSS pixels (read by
  // the browser tests): the labels are drawn on the canvas, so measured from uPlot's
  // own layout and the canvas font.
  window.chartAxisBoxes = function () {
    return charts.map(function (chart) {
      var u = chart.plot, axis = u.axes[1], canvas = u.ctx.canvas.getBoundingClientRect();
      var ratio = devicePixelRatio, caption = chart.section.querySelector(".axis-unit");
      u.ctx.font = axis.font[0];
      var labels = (axis._values || []).map(function (text, i) {
        var y = canvas.top + u.bbox.top / ratio + u.valToPos(axis._splits[i], "y");
        var metrics = u.ctx.measureText(text);
        var width = metrics.width / ratio, height = axis.font[1] / ratio;
        var right = canvas.left + u.bbox.left / ratio - axis.ticks.size - axis.gap;
        return { text: text, value: axis._splits[i], left: right - width, right: right,
          top: y - height / 2, bottom: y + height / 2 };
      });
      var box = caption && caption.getBoundingClientRect();
      return {
        quantity: chart.quantity,
        canvas: { left: canvas.left, right: canvas.right, top: canvas.top, bottom: canvas.bottom },
        plotLeft: canvas.left + u.bbox.left / ratio,
        labels: labels,
        caption: box ? { text: caption.textContent, left: box.left, right: box.right, top: box.top, bottom: box.bottom } : null
      };
    });
  };

  // What each chart holds (read by the browser tests).
  window.chartData = function () {
    return charts.map(function (chart) {
      return Object.assign({ quantity: chart.quantity }, chart.data || {});
    });
  };

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
        section: section,
        quantity: section.dataset.quantity,
        label: section.dataset.label,
        unit: section.dataset.unit,
        precision: Number(section.dataset.precision),
        readout: section.querySelector(".readout"),
        empty: section.querySelector(".plot-empty"),
        element: section.querySelector(".plot"),
        csv: section.querySelector("a[data-export=series]"),
        raw: section.querySelector("a[data-export=raw]"),
        live: {}  // minute ms -> [min, max, sum, count], from the stream
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
    var form = document.querySelector("form.custom-range");
    if (form) customRange(form);
    keepRangeInAddress();
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) {
        if (chart.plot) chart.plot.setSize({ width: chart.element.clientWidth, height: plotHeight() });
      });
    });
    TelemetryUnits.onChange(redraw);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);
  });
})();
