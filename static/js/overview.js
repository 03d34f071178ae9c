// The overview's finder: filter the tiles by name and status, sort them by name or by
// status. The grid is rendered once for every viewer (the live hub), so what one viewer
// filters is theirs alone and happens here. The state lives in the URL
// (?q=green&status=late&sort=status): a reload or a shared link shows the same thing.
//
// The live stream replaces tiles whole (one tile at a time, or the whole grid when a
// stream starts): a MutationObserver on the grid's children applies the finder to what
// came in, in the same task, so a tile that should be hidden is never painted.
//
// Sorting moves the DOM nodes instead of setting CSS `order`: keyboard and screen-reader
// order follow the DOM, and they must follow what is seen. `moveBefore` (where the
// browser has it) keeps focus on a moved link; elsewhere focus is put back.
(function () {
  "use strict";

  // Problems first: a device that stopped (offline) is the most urgent; one falling
  // behind (late) may be about to stop; one that never sent anything is a setup to
  // finish rather than a failure; live ones need nothing. Then by name.
  var STATUS_RANK = { offline: 0, late: 1, never: 2, live: 3 };
  var SORTS = ["name", "status"];
  var ANNOUNCE_DELAY = 600; // ms after the last change: one announcement, not one per key
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  var grid, finder, query, statusSelect, sortSelect, count, announcer, noMatch, noMatchText;
  var observer;
  var announceTimer = 0;
  var seenStatus = {}; // tile id -> the status it had when last placed

  function tiles() {
    return grid.querySelectorAll(":scope > article.tile");
  }

  function nameOf(tile) {
    if (tile.dataset.name !== undefined) return tile.dataset.name;
    var heading = tile.querySelector("h2");
    return heading ? heading.textContent.trim() : "";
  }

  function rankOf(tile) {
    var rank = STATUS_RANK[tile.dataset.status];
    return rank === undefined ? 2 : rank;
  }

  function current() {
    return { q: query.value.trim(), status: statusSelect.value, sort: sortSelect.value };
  }

  function matches(tile, state) {
    if (state.status && tile.dataset.status !== state.status) return false;
    return !state.q || nameOf(tile).toLowerCase().indexOf(state.q.toLowerCase()) !== -1;
  }

  function comparer(sort) {
    return function (a, b) {
      var order = sort === "status" ? rankOf(a) - rankOf(b) : 0;
      return order || collator.compare(nameOf(a), nameOf(b)) || (a.id < b.id ? -1 : 1);
    };
  }

  // Moves `tile` before `ref` (null: to the end), keeping focus where it was.
  function move(tile, ref) {
    if (grid.moveBefore) {
      grid.moveBefore(tile, ref);
      return;
    }
    var focused = tile.contains(document.activeElement) ? document.activeElement : null;
    grid.insertBefore(tile, ref);
    if (focused) focused.focus({ preventScroll: true });
  }

  // Every tile in order, moving only those out of place.
  function arrange(sort) {
    var list = Array.prototype.slice.call(tiles());
    var wanted = list.slice().sort(comparer(sort));
    for (var i = 0; i < wanted.length; i++) {
      var here = i === 0 ? list[0] : wanted[i - 1].nextElementSibling;
      if (here !== wanted[i]) move(wanted[i], here);
    }
  }

  // One tile whose status changed, put where it belongs among the others (in order).
  function place(tile, sort) {
    var before = comparer(sort);
    var list = tiles();
    for (var i = 0; i < list.length; i++) {
      if (list[i] !== tile && before(tile, list[i]) < 0) {
        if (list[i] !== tile.nextElementSibling) move(tile, list[i]);
        return;
      }
    }
    move(tile, null);
  }

  function statusLabel(value) {
    var option = statusSelect.querySelector("option[value='" + value + "']");
    return option ? option.textContent : value;
  }

  function noMatchMessage(state) {
    var quoted = "“" + state.q + "”";
    if (state.q && state.status) {
      return "No device matches " + quoted + " with status “" + statusLabel(state.status) + "”.";
    }
    if (state.q) return "No device matches " + quoted + ".";
    return "No device has status “" + statusLabel(state.status) + "”.";
  }

  // The count, the toolbar and the no-match message, from what is shown now.
  function show(state) {
    var list = tiles();
    var shown = 0;
    for (var i = 0; i < list.length; i++) if (!list[i].hidden) shown++;
    var total = list.length;
    var filtered = Boolean(state.q || state.status);
    var noun = total === 1 ? " device" : " devices";
    count.textContent = filtered ? shown + " of " + total + noun : total + noun;
    finder.hidden = total === 0;
    noMatch.hidden = !(total > 0 && shown === 0);
    if (!noMatch.hidden) noMatchText.textContent = noMatchMessage(state);
    return noMatch.hidden ? count.textContent : noMatchText.textContent;
  }

  function apply(state, rearrange) {
    var list = tiles();
    for (var i = 0; i < list.length; i++) {
      var visible = matches(list[i], state);
      if (list[i].hidden === visible) list[i].hidden = !visible;
      seenStatus[list[i].id] = list[i].dataset.status;
    }
    if (rearrange) arrange(state.sort);
    observer.takeRecords(); // our own moves need no second look
    return show(state);
  }

  function save(state) {
    var params = new URLSearchParams(location.search);
    var wanted = { q: state.q, status: state.status, sort: state.sort === "name" ? "" : state.sort };
    Object.keys(wanted).forEach(function (key) {
      if (wanted[key]) params.set(key, wanted[key]);
      else params.delete(key);
    });
    var search = params.toString();
    var url = location.pathname + (search ? "?" + search : "") + location.hash;
    if (url !== location.pathname + location.search + location.hash) {
      history.replaceState(history.state, "", url);
    }
  }

  function load() {
    var params = new URLSearchParams(location.search);
    query.value = params.get("q") || "";
    var status = params.get("status") || "";
    statusSelect.value = status in STATUS_RANK ? status : "";
    var sort = params.get("sort") || "name";
    sortSelect.value = SORTS.indexOf(sort) === -1 ? "name" : sort;
  }

  // A viewer's change: apply it, keep it in the URL, and tell screen readers the
  // outcome once the typing has paused.
  function changed(rearrange) {
    var state = current();
    var said = apply(state, rearrange);
    save(state);
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () {
      announcer.textContent = said;
    }, ANNOUNCE_DELAY);
  }

  // Tiles the stream swapped in: hide or show each, and move one whose status changed
  // when sorting by status. A tile replaced whole keeps its place in the DOM.
  function swapped(records) {
    var state = current();
    var added = [];
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node.nodeType === 1 && node.matches("article.tile") && node.parentNode === grid) {
          added.push(node);
        }
      });
    });
    if (!added.length) {
      show(state);
      return;
    }
    if (added.length > 1) {  // the whole grid (a new stream's snapshot): in server order
      apply(state, true);
      return;
    }
    added.forEach(function (tile) {
      tile.hidden = !matches(tile, state);
      if (seenStatus[tile.id] !== tile.dataset.status) place(tile, state.sort);
      seenStatus[tile.id] = tile.dataset.status;
    });
    observer.takeRecords();
    show(state);
  }

  function editing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  document.addEventListener("DOMContentLoaded", function () {
    grid = document.getElementById("grid");
    finder = document.getElementById("finder");
    if (!grid || !finder) return;
    query = document.getElementById("finder-q");
    statusSelect = document.getElementById("finder-status");
    sortSelect = document.getElementById("finder-sort");
    count = document.getElementById("finder-count");
    announcer = document.getElementById("finder-announcer");
    noMatch = document.getElementById("no-match");
    noMatchText = document.getElementById("no-match-text");
    observer = new MutationObserver(swapped);
    observer.observe(grid, { childList: true });
    load();
    apply(current(), true);

    query.addEventListener("input", function () { changed(false); });
    statusSelect.addEventListener("change", function () { changed(false); });
    sortSelect.addEventListener("change", function () { changed(true); });
    query.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && query.value) {
        event.preventDefault();
        query.value = "";
        changed(false);
      }
    });
    document.getElementById("finder-clear").addEventListener("click", function () {
      query.value = "";
      statusSelect.value = "";
      changed(false);
      query.focus();
    });
    // "/" jumps to the filter, as on many sites, unless the viewer is typing somewhere.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
      if (editing(event.target) || finder.hidden) return;
      event.preventDefault();
      query.focus();
      query.select();
    });
  });
})();
