// How numbers are shown: in the viewer's language (grouping and decimal separator),
// with each quantity's precision, in the unit the viewer prefers. The preference is
// kept in this browser; stored data, the API and CSV files stay in SI units (°C, hPa).
//
// Tiles are rendered once on the server for every viewer, so they carry the stored
// value (data-value, data-precision, data-unit) and are formatted here: a page's own
// content when the document is parsed, and a tile the stream swaps in within the task
// that added it, before the browser paints it.
(function () {
  "use strict";
  var KEY = "telemetry-units";
  // Display units of each stored unit, declared as data: how to convert, and how many
  // more decimals the converted number needs to say as much as the stored one.
  var CHOICES = {
    "°C": {
      "°C": null,
      "°F": { convert: function (c) { return c * 9 / 5 + 32; }, extra: 0 }
    },
    "hPa": {
      "hPa": null,
      "inHg": { convert: function (hpa) { return hpa * 0.029529983071445; }, extra: 1 }
    }
  };
  var formats = {};
  var listeners = [];

  function preferences() {
    try {
      var stored = JSON.parse(window.localStorage.getItem(KEY) || "{}");
      return stored && typeof stored === "object" ? stored : {};
    } catch (error) {
      return {};  // storage refused (private mode) or garbled: stored units
    }
  }

  // What a stored unit is shown as: {unit, precision, convert(value)}.
  function display(unit, precision) {
    var choices = CHOICES[unit] || {};
    var chosen = preferences()[unit];
    var rule = choices[chosen];
    if (!rule) return { unit: unit, precision: precision, convert: function (v) { return v; } };
    return { unit: chosen, precision: precision + rule.extra, convert: rule.convert };
  }

  function number(value, precision) {
    // signDisplay "negative": a value that rounds to zero (-0.04 at one decimal) has no
    // sign, whatever minus sign and digits the language writes.
    var format = formats[precision] || (formats[precision] = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: precision, maximumFractionDigits: precision, signDisplay: "negative"
    }));
    return format.format(value);
  }

  // A stored value as shown: {text, unit}.
  function format(value, unit, precision) {
    var shown = display(unit, precision);
    return { text: number(shown.convert(value), shown.precision), unit: shown.unit };
  }

  // Format every value and unit label inside `root` (an element or the document).
  function apply(root) {
    if (!root.querySelectorAll) return;
    var numbers = root.querySelectorAll(".number[data-value]");
    for (var i = 0; i < numbers.length; i++) {
      var el = numbers[i], raw = el.getAttribute("data-value");
      if (raw === "") continue;
      var shown = format(Number(raw), el.dataset.unit || "", Number(el.dataset.precision || 2));
      el.textContent = shown.text;
      var unit = el.parentNode && el.parentNode.querySelector(".unit");
      if (unit && el.dataset.unit) unit.textContent = shown.unit;
    }
    var labels = root.querySelectorAll("[data-unit-label]");
    for (var j = 0; j < labels.length; j++) {
      labels[j].textContent = display(labels[j].dataset.unitLabel, 0).unit;
    }
    // "CSV in °C, whatever the display unit" matters only where there is a choice.
    var notes = root.querySelectorAll("[data-si-note]");
    for (var k = 0; k < notes.length; k++) notes[k].hidden = !CHOICES[notes[k].dataset.siNote];
  }

  function choose(unit, shownAs) {
    var stored = preferences();
    stored[unit] = shownAs;
    try { window.localStorage.setItem(KEY, JSON.stringify(stored)); } catch (error) { /* kept for this page only */ }
    apply(document);
    listeners.forEach(function (listener) { listener(); });
  }

  function bindForm() {
    var form = document.getElementById("units-form");
    if (!form) return;
    var stored = preferences();
    Object.keys(CHOICES).forEach(function (unit) {
      var chosen = CHOICES[unit][stored[unit]] !== undefined ? stored[unit] : unit;
      form.querySelectorAll("input[name='" + unit + "']").forEach(function (input) {
        input.checked = input.value === chosen;
      });
    });
    form.addEventListener("change", function (event) {
      if (event.target.type === "radio") choose(event.target.name, event.target.value);
    });
    // A menu closes as menus do: a click elsewhere, or Escape (focus back on its button).
    var menu = form.closest("details");
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !menu.open) return;
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  }

  // New content (a tile swapped in by the stream) is formatted in the same task that
  // added it: mutation observers run before the browser paints.
  function watch() {
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) { if (node.nodeType === 1) apply(node); });
      });
    }).observe(document.body, { childList: true, subtree: true });
  }

  window.TelemetryUnits = {
    display: display,
    number: number,
    format: format,
    // Called after the display units change.
    onChange: function (listener) { listeners.push(listener); }
  };

  document.addEventListener("DOMContentLoaded", function () {
    apply(document);
    bindForm();
    watch();
  });
})();
