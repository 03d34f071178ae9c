// Chart notes of the device page: markers on every chart, the list under the charts, and
// the form that adds one.
//
//   load, `resync`   GET /api/v1/devices/{name}/notes?from=..&to=..  -> every note in range
//   `notes` frame    {"note": {...}} adds or replaces one, {"deleted": id} removes one
//   add, edit, del   POST / PATCH / DELETE with the X-CSRF-Token of <meta name=csrf-token>;
//                    the answer is applied at once, and the frame that follows changes
//                    nothing (a note is replaced by id, never added twice)
//
// Markers are drawn by a uPlot plugin (charts.js asks TelemetryNotes.plugin() for it): a
// line, or a band for a range, on the canvas, and a flag per note, a button over the
// plot that shows the author and text on hover and focus. Everything a user wrote is set
// as textContent, never as HTML. The page says who is signed in (data-user, data-role on
// <main>) only to offer Edit and Delete where they will be allowed: the server decides.
(function () {
  "use strict";
  var FUTURE_MS = 5 * 60000;
  var MENTION = /(^|[^\w@])@([a-z0-9][a-z0-9_.-]{0,31})/gi;
  var page, list, form, plots = [], notes = {}, fetched = 0, highlighted = false;
  var when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function endpoint(suffix) {
    return "/api/v1/devices/" + encodeURIComponent(page.dataset.device) + "/notes" + (suffix || "");
  }

  function send(method, suffix, body) {
    var headers = { "X-CSRF-Token": csrfToken() };
    if (body) headers["Content-Type"] = "application/json";
    return fetch(endpoint(suffix), {
      method: method, headers: headers, credentials: "same-origin",
      body: body ? JSON.stringify(body) : undefined
    });
  }

  // The range shown: a live page's ends now (and a note may be a little ahead of it).
  function shownRange() {
    var from = Date.parse(page.dataset.from), to = Date.parse(page.dataset.to);
    if (page.dataset.live === "true") {
      var span = to - from;
      to = Date.now() + FUTURE_MS;
      from = Date.now() - span;
    }
    return { from: from, to: to };
  }

  function start(note) { return Date.parse(note.at); }
  function end(note) { return note.until ? Date.parse(note.until) : start(note); }

  function inRange(note, range) {
    return start(note) <= range.to && end(note) >= range.from;
  }

  function sorted() {
    var range = shownRange();
    return Object.keys(notes).map(function (id) { return notes[id]; })
      .filter(function (note) { return inRange(note, range); })
      .sort(function (a, b) { return start(a) - start(b) || a.id - b.id; });
  }

  function mayChange(note) {
    return !!page.dataset.user &&
      (page.dataset.role === "admin" || note.author_name === page.dataset.user);
  }

  function describeTime(note) {
    var text = when.format(new Date(start(note)));
    if (note.until) text += " to " + when.format(new Date(end(note)));
    return text;
  }

  // The text with each @name in a span of its own: text nodes only, no HTML.
  function fillText(element, text) {
    element.textContent = "";
    var last = 0, match;
    MENTION.lastIndex = 0;
    while ((match = MENTION.exec(text)) !== null) {
      // A trailing "." or "-" ends the sentence, not the name (as the server reads it).
      var at = match.index + match[1].length, name = match[2].replace(/[.-]+$/, "");
      element.appendChild(document.createTextNode(text.slice(last, at)));
      var mention = document.createElement("span");
      mention.className = "mention";
      mention.textContent = "@" + name;
      element.appendChild(mention);
      last = at + 1 + name.length;
      MENTION.lastIndex = last;
    }
    element.appendChild(document.createTextNode(text.slice(last)));
  }

  function el(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // --- The list ---------------------------------------------------------------------

  function renderList() {
    var shown = sorted(), editing = list.querySelector("form.note-edit");
    var editingId = editing ? editing.dataset.id : null;
    if (editingId && notes[editingId]) return;  // keep the edit being typed; drawn after it
    var focus = focusInList();
    list.textContent = "";
    shown.forEach(function (note) { list.appendChild(item(note)); });
    document.getElementById("notes-empty").hidden = shown.length > 0;
    highlightFromAddress();
    restoreFocus(focus);
  }

  // A live redraw replaces the items: the note (or its button) that had the focus gets
  // it back, so that a keyboard or screen-reader user is not thrown to the page's top.
  var FOCUSABLE = "a, button";

  function focusInList() {
    var active = document.activeElement;
    if (!active || !list.contains(active)) return null;
    var li = active.closest("li.note");
    if (!li) return null;
    return { id: li.id, at: Array.prototype.indexOf.call(li.querySelectorAll(FOCUSABLE), active) };
  }

  function restoreFocus(focus) {
    var li = focus && document.getElementById(focus.id);
    if (!li) return;
    (li.querySelectorAll(FOCUSABLE)[focus.at] || li).focus({ preventScroll: true });
  }

  function item(note) {
    var li = el("li", "note");
    li.id = "note-" + note.id;
    li.dataset.id = String(note.id);
    li.tabIndex = -1;
    if (note.until) li.classList.add("note-range");
    var meta = el("p", "note-meta");
    var time = el("time", "", describeTime(note));
    time.dateTime = note.at;
    meta.appendChild(time);
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "note-author", note.author));
    if (note.updated_at !== note.created_at) meta.appendChild(el("span", "note-edited", " (edited)"));
    li.appendChild(meta);
    var text = el("p", "note-text");
    fillText(text, note.text);
    li.appendChild(text);
    if (mayChange(note)) {
      var actions = el("p", "note-actions");
      var edit = el("button", "note-edit-button", "Edit");
      edit.type = "button";
      edit.setAttribute("aria-label", "Edit the note of " + describeTime(note));
      edit.addEventListener("click", function () { startEdit(li, note); });
      var remove = el("button", "note-delete-button", "Delete");
      remove.type = "button";
      remove.setAttribute("aria-label", "Delete the note of " + describeTime(note));
      remove.addEventListener("click", function () { deleteNote(note, remove); });
      actions.appendChild(edit);
      actions.appendChild(remove);
      li.appendChild(actions);
    }
    if (String(note.id) === wantedId()) li.classList.add("note-highlight");
    return li;
  }

  function startEdit(li, note) {
    var edit = el("form", "note-edit");
    edit.dataset.id = String(note.id);
    var label = el("label", "", "Text");
    var area = el("textarea");
    area.name = "text";
    area.maxLength = 1000;
    area.rows = 3;
    area.value = note.text;
    label.appendChild(area);
    var error = el("p", "field-error");
    error.id = "note-edit-error-" + note.id;
    error.hidden = true;
    area.setAttribute("aria-describedby", error.id);
    var save = el("button", "", "Save");
    save.type = "submit";
    var cancel = el("button", "", "Cancel");
    cancel.type = "button";
    var buttons = el("p", "note-actions");
    buttons.appendChild(save);
    buttons.appendChild(cancel);
    edit.appendChild(label);
    edit.appendChild(error);
    edit.appendChild(buttons);
    li.textContent = "";
    li.appendChild(edit);
    area.focus();
    cancel.addEventListener("click", function () { edit.remove(); renderList(); });
    edit.addEventListener("submit", function (event) {
      event.preventDefault();
      save.disabled = true;
      send("PATCH", "/" + note.id, { text: area.value }).then(function (response) {
        return response.json().then(function (body) {
          save.disabled = false;
          if (!response.ok) return showError(error, body);
          edit.remove();
          apply({ note: body });
        });
      }).catch(function () { save.disabled = false; showError(error, null); });
    });
  }

  function deleteNote(note, button) {
    button.disabled = true;
    send("DELETE", "/" + note.id).then(function (response) {
      button.disabled = false;
      if (response.ok || response.status === 404) apply({ deleted: note.id });
    }).catch(function () { button.disabled = false; });
  }

  // `#note-12` (a mention's link): that note, marked and scrolled to, once it is here.
  function wantedId() {
    var match = /^#note-(\d+)$/.exec(window.location.hash);
    return match ? match[1] : null;
  }

  function highlightFromAddress() {
    var id = wantedId();
    if (highlighted || !id) return;
    var li = document.getElementById("note-" + id);
    if (!li) return;
    highlighted = true;
    li.classList.add("note-highlight");
    li.scrollIntoView({ block: "center" });
    li.focus({ preventScroll: true });
  }

  // --- The markers --------------------------------------------------------------------

  function color(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // How far right of the last bucket's start a note still belongs on the chart: the
  // last bucket runs on for a bucket's width, and a live chart's to now (a note made
  // "now" is a little after the newest point); such a note is drawn at the right edge.
  function reach(u, max) {
    var xs = u.data[0], step = xs.length > 1 ? (xs[xs.length - 1] - xs[xs.length - 2]) * 1000 : 0;
    return Math.max(max + step, page.dataset.live === "true" ? shownRange().to : max);
  }

  function drawMarks(u) {
    if (u.scales.x.min === null || u.scales.x.max === null) return;
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    var min = u.scales.x.min * 1000, edge = u.scales.x.max * 1000, max = reach(u, edge);
    var line = color("--note"), band = color("--note-band");
    ctx.save();
    sorted().forEach(function (note) {
      if (start(note) > max || end(note) < min) return;
      var x0 = u.valToPos(Math.min(Math.max(start(note), min), edge) / 1000, "x", true);
      if (note.until) {
        var x1 = u.valToPos(Math.min(end(note), edge) / 1000, "x", true);
        ctx.fillStyle = band;
        ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
      }
      if (start(note) >= min) {
        ctx.strokeStyle = line;
        ctx.lineWidth = Math.max(1, devicePixelRatio * 1.5);
        ctx.beginPath();
        ctx.moveTo(Math.round(x0) + 0.5, top);
        ctx.lineTo(Math.round(x0) + 0.5, top + height);
        ctx.stroke();
      }
    });
    ctx.restore();
    placeFlags(u, min, max, edge);
  }

  // One button per note in view, kept between draws (live points redraw every second,
  // and a focused flag must stay focused).
  function placeFlags(u, min, max, edge) {
    var state = u.noteFlags, seen = {};
    sorted().forEach(function (note) {
      if (start(note) > max || end(note) < min) return;
      var flag = state.flags[note.id] || (state.flags[note.id] = makeFlag(u, state, note.id));
      flag.style.left = u.valToPos(Math.min(Math.max(start(note), min), edge) / 1000, "x") + "px";
      flag.setAttribute("aria-label", "Note by " + note.author + ", " + describeTime(note) +
        ": " + note.text);
      seen[note.id] = true;
    });
    Object.keys(state.flags).forEach(function (id) {
      if (seen[id]) return;
      if (state.tip.dataset.id === id) hideTip(state);
      state.flags[id].remove();
      delete state.flags[id];
    });
  }

  function makeFlag(u, state, id) {
    var flag = el("button", "note-flag");
    flag.type = "button";
    flag.dataset.noteId = String(id);
    flag.setAttribute("aria-describedby", state.tip.id);
    function show() { showTip(state, flag, notes[id]); }
    flag.addEventListener("mouseenter", show);
    flag.addEventListener("focus", show);
    flag.addEventListener("mouseleave", function () { if (document.activeElement !== flag) hideTip(state); });
    flag.addEventListener("blur", function () { hideTip(state); });
    flag.addEventListener("click", function (event) {
      event.stopPropagation();
      var li = document.getElementById("note-" + id);
      if (li) { li.scrollIntoView({ block: "nearest" }); li.focus({ preventScroll: true }); }
    });
    state.layer.appendChild(flag);
    return flag;
  }

  function showTip(state, flag, note) {
    if (!note) return;
    var tip = state.tip;
    tip.textContent = "";
    tip.appendChild(el("strong", "", note.author));
    tip.appendChild(el("span", "note-tip-time", " · " + describeTime(note)));
    var text = el("span", "note-tip-text");
    fillText(text, note.text);
    tip.appendChild(text);
    tip.dataset.id = String(note.id);
    tip.hidden = false;
    var left = parseFloat(flag.style.left) || 0, room = state.layer.clientWidth;
    tip.style.left = Math.max(0, Math.min(left - 8, room - tip.offsetWidth)) + "px";
  }

  function hideTip(state) {
    state.tip.hidden = true;
    state.tip.dataset.id = "";
  }

  // A click on the chart (not a drag to zoom) sets the new note's time: `at`, or with
  // Shift held, `until`.
  function listenForClicks(u) {
    var downX = null;
    u.over.addEventListener("mousedown", function (event) { downX = event.clientX; });
    u.over.addEventListener("click", function (event) {
      if (!form || downX === null || Math.abs(event.clientX - downX) > 3) return;
      if (event.target.closest && event.target.closest(".note-flag")) return;
      var rect = u.over.getBoundingClientRect();
      var seconds = u.posToVal(event.clientX - rect.left, "x");
      var field = form.elements[event.shiftKey ? "until_local" : "at_local"];
      field.value = localInput(seconds * 1000);
      clearErrors();
      form.elements.text.focus();
    });
  }

  function plugin() {
    return {
      hooks: {
        init: [function (u) {
          var layer = el("div", "note-flags");
          var tip = el("div", "note-tip");
          tip.id = "note-tip-" + Math.random().toString(36).slice(2);
          tip.setAttribute("role", "tooltip");
          tip.hidden = true;
          layer.appendChild(tip);
          u.over.appendChild(layer);
          u.noteFlags = { layer: layer, tip: tip, flags: {} };
          plots.push(u);
          listenForClicks(u);
        }],
        draw: [drawMarks],
        destroy: [function (u) {
          plots = plots.filter(function (p) { return p !== u; });
        }]
      }
    };
  }

  function redrawCharts() {
    plots.forEach(function (u) { u.redraw(false, false); });
  }

  // --- Changes ------------------------------------------------------------------------

  function apply(change) {
    if (change.note) {
      if (change.note.device !== page.dataset.device) return;
      notes[change.note.id] = change.note;
    } else if (change.deleted !== undefined) {
      delete notes[change.deleted];
      var editing = list.querySelector('form.note-edit[data-id="' + change.deleted + '"]');
      if (editing) editing.remove();
    }
    renderList();
    redrawCharts();
  }

  function load() {
    var range = shownRange(), attempt = fetched = fetched + 1;
    var params = new URLSearchParams({
      from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString()
    });
    return fetch(endpoint("?" + params), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body || attempt !== fetched) return;
        notes = {};
        body.notes.forEach(function (note) { notes[note.id] = note; });
        renderList();
        redrawCharts();
        page.dataset.notes = "loaded";  // for the browser tests
      });
  }

  function onNotesFrame(event) {
    try {
      apply(JSON.parse(event.detail.data));
    } catch (e) { /* not a frame of ours: nothing to change */ }
  }

  // --- The form -------------------------------------------------------------------------

  function localInput(ms) {
    var moment = new Date(ms);
    var local = new Date(moment.getTime() - moment.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 16);
  }

  function fromLocal(value) {
    return value ? new Date(value).toISOString() : null;
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (f) { f.removeAttribute("aria-invalid"); });
  }

  function showError(element, body) {
    var detail = body && body.detail;
    element.textContent = Array.isArray(detail) ? detail.map(function (d) { return d.msg; }).join("; ")
      : (detail || "The note could not be saved; try again.");
    element.hidden = false;
  }

  // 422s name their field (["body", "at"]); anything else is said under the text.
  function showErrors(body) {
    var detail = body && body.detail, errors = Array.isArray(detail) ? detail : [{ loc: [], msg: detail }];
    errors.forEach(function (error) {
      var field = (error.loc || [])[1];
      if (["text", "at", "until"].indexOf(field) < 0) field = "text";
      var output = document.getElementById("note-" + field + "-error");
      output.textContent = (output.hidden ? "" : output.textContent + "; ") +
        (error.msg || "The note could not be saved; try again.");
      output.hidden = false;
      var input = form.elements[field === "text" ? "text" : field + "_local"];
      input.setAttribute("aria-invalid", "true");
    });
  }

  function submit(event) {
    event.preventDefault();
    clearErrors();
    var button = form.querySelector("button[type=submit]");
    var body = {
      text: form.elements.text.value,
      at: fromLocal(form.elements.at_local.value) || new Date().toISOString()
    };
    var until = fromLocal(form.elements.until_local.value);
    if (until) body.until = until;
    button.disabled = true;
    send("POST", "", body).then(function (response) {
      return response.json().then(function (answer) {
        button.disabled = false;
        if (!response.ok) return showErrors(answer);
        form.reset();
        apply({ note: answer });
      });
    }).catch(function () {
      button.disabled = false;
      showErrors(null);
    });
  }

  window.TelemetryNotes = { plugin: plugin };

  // What the page holds (read by the browser tests).
  window.notesShown = function () {
    return plots.map(function (u) {
      return Object.keys(u.noteFlags.flags).map(Number).sort(function (a, b) { return a - b; });
    });
  };

  document.addEventListener("DOMContentLoaded", function () {
    page = document.getElementById("device-page");
    list = document.getElementById("note-list");
    if (!page || !list) return;
    form = document.getElementById("note-form");
    if (form) form.addEventListener("submit", submit);
    var feed = document.getElementById("notes");
    feed.addEventListener("sse:notes", onNotesFrame);
    feed.addEventListener("sse:resync", load);
    load();
  });
})();
