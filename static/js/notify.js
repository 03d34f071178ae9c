// Toasts of notifications, as the live stream brings them (static/js/live.js):
//
//   event: toast   the server's HTML of one toast (templates/_toast.html, id toast-<id>)
//                  -> shown in #toasts, and said in #toast-status (info, warning) or
//                     #toast-alert (critical); info and warning ones go after a while,
//                     critical ones stay until dismissed
//   event: read    {"ids": [..]} or {"ids": "all"}: read in some tab of this user
//                  -> those toasts go, here and in every other tab
//
// A toast this tab has shown once is not shown again (a replayed frame, or the same
// notification after a reload, changes nothing): the ids are kept in sessionStorage,
// which is this tab's own.
(function () {
  "use strict";
  var HIDE_AFTER_MS = 8000;
  var SEEN_KEY = "telemetry-toasts-seen", SEEN_MAX = 200;
  var LEVEL_WORDS = { info: "Info", warning: "Warning", critical: "Critical" };
  var box, timers = {};

  function loadSeen() {
    try {
      var seen = JSON.parse(window.sessionStorage.getItem(SEEN_KEY) || "[]");
      return Array.isArray(seen) ? seen : [];
    } catch (e) {
      return [];
    }
  }

  var seen = loadSeen();

  function remember(id) {
    if (seen.indexOf(id) >= 0) return;
    seen.push(id);
    if (seen.length > SEEN_MAX) seen = seen.slice(seen.length - SEEN_MAX);
    try { window.sessionStorage.setItem(SEEN_KEY, JSON.stringify(seen)); } catch (e) { /* kept for this page */ }
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function text(toast, selector) {
    var el = toast.querySelector(selector);
    return el ? el.textContent.trim() : "";
  }

  // Live regions say what is put in them; emptied first, so the same words twice are
  // said twice.
  function announce(toast) {
    var critical = toast.dataset.level === "critical";
    var region = document.getElementById(critical ? "toast-alert" : "toast-status");
    if (!region) return;
    var words = (LEVEL_WORDS[toast.dataset.level] || "Info") + ": " + text(toast, ".toast-title") +
      ". " + text(toast, ".toast-message");
    region.textContent = "";
    window.setTimeout(function () { region.textContent = words; }, 50);
  }

  function stopTimer(id) {
    if (timers[id]) window.clearTimeout(timers[id]);
    delete timers[id];
  }

  // Not while the pointer or the keyboard is on it: nobody loses a toast mid-sentence.
  function startTimer(toast) {
    var id = toast.dataset.id;
    stopTimer(id);
    if (toast.dataset.level === "critical") return;
    timers[id] = window.setTimeout(function () { removeToast(toast); }, HIDE_AFTER_MS);
  }

  function removeToast(toast) {
    stopTimer(toast.dataset.id);
    var hadFocus = toast.contains(document.activeElement);
    if (toast.parentNode) toast.parentNode.removeChild(toast);
    if (hadFocus) {
      var next = box.querySelector(".toast button");
      if (next) next.focus();
    }
  }

  function show(html) {
    var holder = document.createElement("template");
    holder.innerHTML = String(html).trim();
    var toast = holder.content.querySelector(".toast");
    if (!toast || !/^toast-\d+$/.test(toast.id)) return;
    var id = toast.dataset.id;
    if (seen.indexOf(id) >= 0 || document.getElementById(toast.id)) return;
    remember(id);
    box.appendChild(toast);
    announce(toast);
    startTimer(toast);
    toast.addEventListener("mouseenter", function () { stopTimer(id); });
    toast.addEventListener("mouseleave", function () { startTimer(toast); });
    toast.addEventListener("focusin", function () { stopTimer(id); });
    toast.addEventListener("focusout", function (event) {
      if (!toast.contains(event.relatedTarget)) startTimer(toast);
    });
  }

  function onRead(data) {
    var frame;
    try { frame = JSON.parse(data); } catch (e) { return; }
    if (!frame) return;
    if (frame.ids === "all") {
      box.querySelectorAll(".toast").forEach(removeToast);
      return;
    }
    (Array.isArray(frame.ids) ? frame.ids : []).forEach(function (id) {
      remember(String(id));
      var toast = document.getElementById("toast-" + id);
      if (toast) removeToast(toast);
    });
  }

  function markRead(button) {
    var toast = button.closest(".toast");
    button.disabled = true;
    fetch("/api/v1/notifications/" + encodeURIComponent(toast.dataset.id) + "/read", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      removeToast(toast);
    }).catch(function () {
      button.disabled = false;
      button.textContent = "Mark read (try again)";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    box = document.getElementById("toasts");
    if (!box) return;
    box.addEventListener("sse:toast", function (event) { show(event.detail.data); });
    box.addEventListener("sse:read", function (event) { onRead(event.detail.data); });
    box.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button || !box.contains(button)) return;
      if (button.classList.contains("toast-dismiss")) removeToast(button.closest(".toast"));
      else if (button.classList.contains("toast-read")) markRead(button);
    });
    document.addEventListener("keydown", function (event) {  // Escape dismisses the focused toast
      var toast = event.key === "Escape" && document.activeElement &&
        document.activeElement.closest && document.activeElement.closest("#toasts .toast");
      if (toast) removeToast(toast);
    });
  });
})();
