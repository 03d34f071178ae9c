// One live stream per browser, shared by all its tabs.
//
// A browser holds at most six HTTP/1.1 connections to a server, and an EventSource holds
// one for as long as its tab is open: a seventh dashboard tab would wait for ever for its
// page. So one tab, the leader, holds the only stream, and the others are views on it:
//
//   tab A (leader)                              tab B, C, ... (followers)
//   ───────────────                             ─────────────────────────
//   EventSource /events?topic=overview            │ hello {view, tab, types} ──┐
//     &tab=A&view=a1  ──────> server              │                            │
//   "stream" {stream: s1} ──> BroadcastChannel ───┼─> {kind: "stream", s1}     │
//                                                 │   POST /events/views       │
//                                                 │   {stream: s1, tab: B,     │
//                                                 │    view: b1, device: x}    │
//   every frame, with its `topic` header ───────> │   {header, type, data, lastEventId}
//                                                 │   routed by the header (below)
//   waits on the lock "telemetry-live-view:b1" <──── held by B for its lifetime:
//   granted when B is gone: POST /events/views/leave for b1
//
// Who leads is decided by the Web Locks API: every tab with a stream asks for the lock
// "telemetry-live-leader" and keeps it for its lifetime; when the leader's tab goes,
// the browser grants it to the next tab at once, which opens a new stream and announces
// it; the followers join it (the server's presence grace hides the change).
//
// Routing, by the header event `topic` that precedes every group of frames:
//   "user:*", "presence", "*"  every view          "presence:X"  the views on X
//   "X"                        the views on X      "view:V X"    view V only (and V is on X)
//   `signed-out`               every view, whatever the header
//   frames before any header   the view that opened the stream (a server without headers)
//
// Each tab gets from htmx.createEventSource (overridden here, after the SSE extension
// set its default) an EventTarget shaped like an EventSource: MessageEvents for the
// frames routed to it, `open` and `error` as an EventSource fires them (app.js shows the
// connection state from them), and close(). Its readyState never reads CLOSED until it
// is closed: the retries with backoff are made here, once for all tabs, not by the
// extension in each.
//
// Without BroadcastChannel or Web Locks every tab opens a stream of its own, routed the
// same way. The tab id lives in sessionStorage (it survives reloads and navigation in
// the tab: presence counts tabs); the view id is new with every page.
(function () {
  "use strict";
  if (!window.htmx) return;

  var LEADER_LOCK = "telemetry-live-leader";
  var VIEW_LOCK = "telemetry-live-view:";
  var CHANNEL = "telemetry-live";
  var TAB_KEY = "telemetry-tab";
  var ID_PATTERN = /^[A-Za-z0-9_-]{1,40}$/;
  var PAGE_PARAMS = ["topic", "device", "page"];
  // Listened for on the real stream from the start; names a page adds later (tile-<id>)
  // are announced by the tab that listens for them.
  var BASE_TYPES = ["message", "signed-out", "grid", "points", "resync", "presence",
    "watchers", "presence-diff", "watchers-diff", "unread", "toast", "read", "notes"];
  var RETRY_FIRST_MS = 1000, RETRY_MAX_MS = 30000;

  var shared = typeof window.BroadcastChannel === "function" && !!navigator.locks &&
    typeof navigator.locks.request === "function";

  function randomId() {
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    var bytes = new Uint8Array(16), id = "";
    window.crypto.getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) id += alphabet.charAt(bytes[i] & 63);
    return id;
  }

  // A duplicated tab, or one opened from a link of this one, starts with a copy of its
  // sessionStorage, tab id included: the mark OPEN_KEY, set while a page of the tab is
  // shown and cleared when it goes, tells such a copy (its original is still showing)
  // from the same tab's next page, and the copy takes an id of its own.
  var OPEN_KEY = "telemetry-tab-open";

  function loadTabId() {
    try {
      var storage = window.sessionStorage;
      var id = storage.getItem(TAB_KEY);
      if (!id || !ID_PATTERN.test(id) || storage.getItem(OPEN_KEY)) {
        id = randomId();
        storage.setItem(TAB_KEY, id);
      }
      storage.setItem(OPEN_KEY, "1");
      return id;
    } catch (e) {  // storage refused (privacy settings): a tab id for this page only
      return randomId();
    }
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function markTabShown(shown) {
    try {
      if (shown) window.sessionStorage.setItem(OPEN_KEY, "1");
      else window.sessionStorage.removeItem(OPEN_KEY);
    } catch (e) { /* storage refused: nothing was marked */ }
  }

  var tab = loadTabId();
  var view = randomId();
  var role = "idle";          // idle, follower, leader or solo (a stream of its own)
  var source = null;          // what htmx was given
  var path = "/events";       // the stream's address, from the page's sse-connect
  var pageQuery = new URLSearchParams();
  var myTopic = null;         // the topic this view is on, once the server said it
  var myTypes = {};           // event names this tab listens for
  var channel = null;

  // The leader's (or a solo tab's) real stream.
  var stream = null, streamId = null, header = null, realTypes = {}, retries = 0, retryTimer = null;
  var watched = {};           // followers' views whose locks the leader waits on
  // A follower's view on the leader's stream.
  var announced = null, joined = null, joining = null, joinRetries = 0;

  // --- The source each tab's htmx sees ---------------------------------------------

  function LiveSource(url) {
    var target = new EventTarget();
    target.url = url;
    target.withCredentials = true;
    target.readyState = 0;
    target.onopen = null;
    target.onerror = null;
    target.onmessage = null;
    var add = target.addEventListener.bind(target);
    target.addEventListener = function (type, listener, options) {
      listenFor(type);
      add(type, listener, options);
    };
    target.close = function () {
      if (target.readyState === 2) return;
      target.readyState = 2;
      if (source === target) {
        source = null;
        leave(view, tab, true);
      }
    };
    return target;
  }

  function fire(event) {
    if (!source || source.readyState === 2) return;
    var handler = source["on" + event.type];
    if (typeof handler === "function") handler.call(source, event);
    source.dispatchEvent(event);
  }

  function markOpen() {
    if (!source || source.readyState === 2) return;
    source.readyState = 1;
    fire(new Event("open"));
  }

  function markError() {
    if (!source || source.readyState === 2) return;
    source.readyState = 0;  // reconnecting: the extension must not open another
    fire(new Event("error"));
  }

  function listenFor(type) {
    if (myTypes[type]) return;
    myTypes[type] = true;
    if (role === "leader" || role === "solo") listenReal(type);
    else if (role === "follower") channel.postMessage({ kind: "listen", types: [type] });
  }

  // --- Routing -----------------------------------------------------------------------

  function learnTopic(value) {
    if (value && value.indexOf("view:") === 0) {
      var space = value.indexOf(" ");
      if (space > 0 && value.slice(5, space) === view) myTopic = value.slice(space + 1);
    }
  }

  function isForMe(frame) {
    if (frame.type === "signed-out") return true;
    var h = frame.header;
    if (h === null || h === undefined) return frame.origin === view;
    if (h.indexOf("view:") === 0) {
      var space = h.indexOf(" ");
      return (space < 0 ? h.slice(5) : h.slice(5, space)) === view;
    }
    if (h === "*" || h === "presence" || h.indexOf("user:") === 0) return true;
    if (h.indexOf("presence:") === 0) return h.slice(9) === myTopic;
    return h === myTopic;
  }

  function receive(frame) {
    learnTopic(frame.header);
    if (!isForMe(frame)) return;
    fire(new MessageEvent(frame.type, { data: frame.data, lastEventId: frame.lastEventId || "" }));
  }

  // --- The real stream (leader or solo) ----------------------------------------------

  function streamUrl() {
    var query = new URLSearchParams(pageQuery.toString());
    query.set("tab", tab);
    query.set("view", view);
    return path + "?" + query.toString();
  }

  function listenReal(type) {
    if (realTypes[type]) return;
    realTypes[type] = true;
    if (stream) stream.addEventListener(type, onFrame);
  }

  function onFrame(event) {
    if (event.target !== stream) return;
    var frame = { kind: "frame", header: header, type: event.type, data: event.data,
      lastEventId: event.lastEventId, origin: view };
    if (channel) channel.postMessage(frame);
    receive(frame);
  }

  function onStreamEvent(event) {
    if (event.target !== stream) return;
    var opened;
    try { opened = JSON.parse(event.data); } catch (e) { return; }
    streamId = opened && typeof opened.stream === "string" ? opened.stream : null;
    if (streamId && channel) channel.postMessage({ kind: "stream", stream: streamId });
  }

  function onTopicEvent(event) {
    if (event.target !== stream) return;
    header = event.data;
  }

  function openStream() {
    retryTimer = null;
    header = null;
    streamId = null;
    var es = new EventSource(streamUrl(), { withCredentials: true });
    stream = es;
    es.addEventListener("stream", onStreamEvent);
    es.addEventListener("topic", onTopicEvent);
    Object.keys(realTypes).forEach(function (type) { es.addEventListener(type, onFrame); });
    es.onopen = function () {
      if (es !== stream) return;
      retries = 0;
      header = null;  // a reconnect starts afresh: a new stream, a new snapshot
      markOpen();
    };
    es.onerror = function () {
      if (es !== stream) return;
      streamId = null;
      if (channel) channel.postMessage({ kind: "down" });
      if (es.readyState === EventSource.CLOSED) {
        // Refused (401, 429, 503): the browser does not try again; we do, later, and at
        // a moment of our own so that a crowd of browsers does not come back at once.
        stream = null;
        var delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * Math.pow(2, retries));
        retries = Math.min(retries + 1, 10);
        retryTimer = window.setTimeout(openStream, delay * (0.5 + Math.random()));
      }
      markError();
    };
  }

  function closeStream() {
    if (retryTimer) window.clearTimeout(retryTimer);
    retryTimer = null;
    if (stream) stream.close();
    stream = null;
    streamId = null;
  }

  // --- Leading -----------------------------------------------------------------------

  function lead() {
    role = "leader";
    joining = joined = announced = null;
    BASE_TYPES.concat(Object.keys(myTypes)).forEach(listenReal);
    openStream();
  }

  // The follower's lock is granted to us only once it is gone (closed, crashed, or the
  // page replaced): then its view leaves at once, not after the long reconnect grace.
  function watch(otherView, otherTab) {
    if (otherView === view || watched[otherView] || !ID_PATTERN.test(otherView)) return;
    watched[otherView] = true;
    navigator.locks.request(VIEW_LOCK + otherView, function () {
      delete watched[otherView];
      if (role === "leader") leave(otherView, otherTab, false);
    });
  }

  // --- Following ---------------------------------------------------------------------

  function hello() {
    channel.postMessage({ kind: "hello", view: view, tab: tab, types: Object.keys(myTypes) });
  }

  function join(id) {
    joining = id;
    var body = new URLSearchParams(pageQuery.toString());
    body.set("stream", id);
    body.set("tab", tab);
    body.set("view", view);
    fetch("/events/views", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (response) {
      if (joining !== id || role !== "follower") return null;
      joining = null;
      if (!response.ok) {
        // 404: that stream is gone, and its leader announces the next one. 401, 403:
        // the session ended (app.js checks and goes to the sign-in page). 422: a page
        // the server does not stream.
        markError();
        return null;
      }
      return response.json().then(function (answer) {
        if (role !== "follower" || announced !== id) return;
        joined = id;
        joinRetries = 0;
        if (answer && typeof answer.topic === "string") myTopic = answer.topic;
        markOpen();
      });
    }).catch(function () {
      if (joining !== id) return;
      joining = null;
      markError();
      var delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * Math.pow(2, joinRetries));
      joinRetries = Math.min(joinRetries + 1, 10);
      window.setTimeout(function () {
        if (role === "follower" && announced === id && joined !== id && joining === null) join(id);
      }, delay * (0.5 + Math.random()));
    });
  }

  function onChannelMessage(event) {
    var message = event.data || {};
    if (role === "leader") {
      if (message.kind === "hello" || message.kind === "listen") {
        (message.types || []).forEach(function (type) {
          if (typeof type === "string") listenReal(type);
        });
      }
      if (message.kind === "hello") {
        watch(message.view, message.tab);
        if (streamId) channel.postMessage({ kind: "stream", stream: streamId });
      }
      return;
    }
    if (role !== "follower") return;
    if (message.kind === "stream" && typeof message.stream === "string") {
      if (message.stream === announced) return;
      announced = message.stream;
      joined = null;
      hello();  // the leader (perhaps a new one) learns our event names and watches our lock
      join(announced);
    } else if (message.kind === "down") {
      announced = joined = null;
      markError();
    } else if (message.kind === "frame") {
      receive(message);
    }
  }

  // --- Starting and leaving -----------------------------------------------------------

  // The stream carrying a view says who may take it off (a guest of a public dashboard
  // has no session to be known by): this tab's own, or, for a follower the leader saw
  // go, the leader's.
  function leave(whichView, whichTab, beacon) {
    var carrier = whichView === view && role === "follower" ? joined : streamId;
    var form = new FormData();
    form.append("view", whichView);
    form.append("tab", whichTab);
    form.append("stream", carrier || "");
    form.append("csrf_token", csrfToken());
    if (beacon && navigator.sendBeacon) {
      navigator.sendBeacon("/events/views/leave", form);
      return;
    }
    fetch("/events/views/leave", { method: "POST", body: form, credentials: "same-origin",
      keepalive: true }).catch(function () {});
  }

  function start() {
    if (!shared) {
      role = "solo";
      BASE_TYPES.concat(Object.keys(myTypes)).forEach(listenReal);
      openStream();
      return;
    }
    channel = new BroadcastChannel(CHANNEL);
    channel.onmessage = onChannelMessage;
    // Held until this page is gone; only then may the leader say this view left.
    navigator.locks.request(VIEW_LOCK + view, function () {
      navigator.locks.request(LEADER_LOCK, { ifAvailable: true }, function (lock) {
        if (lock) {
          lead();
          return new Promise(function () {});
        }
        role = "follower";
        hello();
        // In the queue for the lead: granted the moment the leader's tab is gone.
        navigator.locks.request(LEADER_LOCK, function () {
          lead();
          return new Promise(function () {});
        });
        return null;
      });
      return new Promise(function () {});
    });
  }

  var started = false;
  htmx.createEventSource = function (url) {
    var address = new URL(url, window.location.href);
    path = address.pathname;
    pageQuery = new URLSearchParams();
    PAGE_PARAMS.forEach(function (name) {
      var value = address.searchParams.get(name);
      if (value !== null) pageQuery.set(name, value);
    });
    if (pageQuery.get("topic") === "overview") myTopic = "overview";
    else if (pageQuery.has("page")) myTopic = "page";
    if (source && source.readyState !== 2) source.readyState = 2;  // replaced
    source = LiveSource(url);
    if (!started) {
      started = true;
      start();
    } else if (stream && stream.readyState === 1) {
      window.setTimeout(markOpen, 0);
    } else if (role === "follower" && joined) {
      window.setTimeout(markOpen, 0);
    }
    return source;
  };

  window.addEventListener("pagehide", function () {
    markTabShown(false);
    if (!started) return;
    leave(view, tab, true);
    closeStream();
  });
  // A page restored from the back/forward cache lost its place in all of the above.
  window.addEventListener("pageshow", function (event) {
    markTabShown(true);
    if (event.persisted && started) window.location.reload();
  });

  // For the browser tests and for curious people: how this tab takes part.
  window.TelemetryLive = {
    state: function () {
      return { role: role, tab: tab, view: view, topic: myTopic,
        stream: role === "follower" ? joined : streamId };
    }
  };
})();
