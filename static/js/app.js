// Times in the viewer's own time zone and language, "12 s ago" kept current, and the
// state of the live connection shown in the header. The server sends UTC timestamps.
(function () {
  "use strict";
  var relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
  var absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  var dated = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  // Fixed times (when a user or device was created, when a session expires) in the
  // viewer's own zone and language; the exact UTC time stays in the tooltip.
  function formatFixedTimes() {
    document.querySelectorAll("time[data-absolute]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      el.title = el.getAttribute("datetime");
      el.textContent = dated.format(new Date(at));
    });
  }

  function describe(seconds) {
    if (seconds < 60) return relative.format(-Math.max(0, Math.round(seconds)), "second");
    if (seconds < 3600) return relative.format(-Math.round(seconds / 60), "minute");
    if (seconds < 86400) return relative.format(-Math.round(seconds / 3600), "hour");
    return relative.format(-Math.round(seconds / 86400), "day");
  }

  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      // Written only when it reads differently: each write is a DOM mutation that the
      // pages' observers (units.js, overview.js) are told of, every second, per time.
      var text = describe((now - at) / 1000);
      if (el.textContent !== text) el.textContent = text;
      if (!el.title) el.title = absolute.format(new Date(at));
    });
  }

  function setConnection(state, text) {
    var el = document.getElementById("connection");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  // Status changes (live, late, offline) are said to screen readers; the values, which
  // change every second, are not.
  var statuses = {};
  function announceStatusChanges() {
    var changes = [];
    document.querySelectorAll("article.tile").forEach(function (tile) {
      var before = statuses[tile.id];
      statuses[tile.id] = tile.dataset.status;
      if (before && before !== tile.dataset.status) {
        var name = tile.querySelector("h2").textContent.trim();
        changes.push(name + ": " + tile.querySelector(".status").textContent.trim());
      }
    });
    var announcer = document.getElementById("announcer");
    if (changes.length && announcer) announcer.textContent = changes.join(". ");
  }

  // A stream refused for want of a session (its end was missed, say, while the laptop
  // slept) would be retried for ever: ask for the page itself, and if the answer is the
  // way to the sign-in page, go there.
  var checking = false;
  var leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });
  function checkStillSignedIn() {
    if (checking || leaving || !window.fetch) return;
    checking = true;
    fetch(window.location.href, { redirect: "manual", cache: "no-store" })
      .then(function (response) {
        var refused = response.type === "opaqueredirect" || response.status === 401;
        if (refused && !leaving) window.location.reload();
      })
      .catch(function () {})
      .then(function () { checking = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    announceStatusChanges();
    // Tiles are replaced whole, in the grid or in a device page's tile box: watching
    // those boxes' children (not every text node, which change every second) is enough.
    var observer = new MutationObserver(announceStatusChanges);
    document.querySelectorAll("#grid, .device-tile").forEach(function (box) {
      observer.observe(box, { childList: true });
    });
    formatFixedTimes();
    refreshTimes();
    setInterval(refreshTimes, 1000);
    document.body.addEventListener("htmx:afterSwap", refreshTimes);
    document.body.addEventListener("htmx:sseOpen", function (event) {
      setConnection("open", "Live");
      // The server's last frame when this browser's session ends (signed out here or
      // elsewhere, or by an admin): reloading meets the sign-in page.
      var source = event.detail && event.detail.source;
      if (source && !source.signedOutWatched) {
        source.signedOutWatched = true;
        source.addEventListener("signed-out", function () {
          // Not when this tab is already leaving (its own "Sign out" is under way).
          if (!leaving) window.location.reload();
        });
      }
    });
    document.body.addEventListener("htmx:sseError", function () {
      setConnection("lost", "Reconnecting…");
      checkStillSignedIn();
    });
  });
})();
