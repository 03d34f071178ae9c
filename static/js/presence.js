// Who is watching, as the live stream tells it (app/live/lobby.py):
//
//   event: presence / watchers             the whole list, when the stream opens:
//        {"users": [[id, name, tabs], ...], "guests": n, "total": users}
//   event: presence-diff / watchers-diff   then only what changed, once a refresh interval:
//        {"set": [[id, name, tabs], ...], "gone": [id, ...], "guests": n, "total": users}
//
// A list names the first users in name order (at most 40) and counts them all ("total").
//
// `presence` draws the header's list (#presence: each user once, with their tab count;
// a phone shows only the count), `watchers` the line "On this page: ..." (#watchers).
// Names are set as text, never as markup. Applying a difference twice changes nothing.
(function () {
  "use strict";
  var SHOWN = 12;  // names in the header's list; the rest are counted ("+5 more")
  var TITLED = 40;  // names in the count's tooltip

  function List(element, draw) {
    this.element = element;
    this.draw = draw;
    this.users = {};  // id -> [name, tabs]
    this.guests = 0;
    this.total = 0;  // users watching, named or not
  }

  List.prototype.redraw = function (data) {
    this.guests = data.guests || 0;
    var named = Object.keys(this.users).length;
    this.total = Math.max(named, typeof data.total === "number" ? data.total : named);
    this.draw(this.element, this.sorted(), this.guests, this.total);
  };

  List.prototype.whole = function (data) {
    var users = {};
    (data.users || []).forEach(function (row) { users[row[0]] = [String(row[1]), row[2]]; });
    this.users = users;
    this.redraw(data);
  };

  List.prototype.change = function (data) {
    var users = this.users;
    (data.set || []).forEach(function (row) { users[row[0]] = [String(row[1]), row[2]]; });
    (data.gone || []).forEach(function (id) { delete users[id]; });
    this.redraw(data);
  };

  List.prototype.sorted = function () {
    var users = this.users;
    return Object.keys(users).map(function (id) {
      return { id: id, name: users[id][0], tabs: users[id][1] };
    }).sort(function (a, b) {
      var x = a.name.toLocaleLowerCase(), y = b.name.toLocaleLowerCase();
      return x < y ? -1 : x > y ? 1 : Number(a.id) - Number(b.id);
    });
  };

  function el(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function guestWords(guests) {
    return guests + " guest" + (guests === 1 ? "" : "s");
  }

  function tabCount(tabs, titled) {
    var count = el("span", "tabs");
    if (titled) count.title = tabs + " tabs";
    count.appendChild(el("span", "", "×")).setAttribute("aria-hidden", "true");
    count.appendChild(document.createTextNode(String(tabs)));
    count.appendChild(el("span", "visually-hidden", " tabs"));
    return count;
  }

  function drawHeader(element, users, guests, total) {
    element.textContent = "";
    if (!total && !guests) return;
    var names = users.slice(0, TITLED).map(function (user) {
      return user.name + (user.tabs > 1 ? " (" + user.tabs + " tabs)" : "");
    });
    var unnamed = total - Math.min(users.length, TITLED);
    if (unnamed > 0) names.push(unnamed + " more");
    if (guests) names.push(guestWords(guests));
    var count = el("span", "presence-count");
    count.title = names.join(", ");
    count.appendChild(el("span", "presence-dot")).setAttribute("aria-hidden", "true");
    count.appendChild(document.createTextNode(String(total + guests)));
    count.appendChild(el("span", "presence-word", " watching"));
    element.appendChild(count);
    var list = el("ul", "presence-list");
    users.slice(0, SHOWN).forEach(function (user) {
      var item = el("li");
      item.dataset.user = user.id;
      item.appendChild(el("span", "who", user.name));
      if (user.tabs > 1) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(tabCount(user.tabs, true));
      }
      list.appendChild(item);
    });
    var more = total - Math.min(users.length, SHOWN);
    if (more > 0) list.appendChild(el("li", "more", "+" + more + " more"));
    if (guests) list.appendChild(el("li", "guests", guestWords(guests)));
    element.appendChild(list);
  }

  function drawWatchers(element, users, guests, total) {
    element.textContent = "";
    if (!total && !guests) return;
    element.appendChild(el("span", "watchers-label", "On this page:"));
    element.appendChild(document.createTextNode(" "));
    users.slice(0, SHOWN).forEach(function (user, index) {
      if (index) element.appendChild(document.createTextNode(", "));
      var who = el("span", "who", user.name);
      who.dataset.user = user.id;
      element.appendChild(who);
      if (user.tabs > 1) {
        element.appendChild(document.createTextNode(" "));
        element.appendChild(tabCount(user.tabs, false));
      }
    });
    var rest = [], more = total - Math.min(users.length, SHOWN);
    if (more > 0) rest.push(more + " more");
    if (guests) rest.push(guestWords(guests));
    if (rest.length) element.appendChild(document.createTextNode((users.length ? ", " : "") + rest.join(", ")));
  }

  function follow(id, event, draw) {
    var element = document.getElementById(id);
    if (!element) return;
    var list = new List(element, draw);
    function parse(raw) {
      try { return JSON.parse(raw); } catch (e) { return null; }
    }
    element.addEventListener("sse:" + event, function (e) {
      var data = parse(e.detail.data);
      if (data) list.whole(data);
    });
    element.addEventListener("sse:" + event + "-diff", function (e) {
      var data = parse(e.detail.data);
      if (data) list.change(data);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    follow("presence", "presence", drawHeader);
    follow("watchers", "watchers", drawWatchers);
  });
})();
