// Keeps the page live: every few seconds it asks the worker for the page's live part
// (the same template, ?part=live) and swaps it in when it changed (ETag). A key whose band
// changed keeps a mark for a minute. Nothing else is fetched.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var MARK_MS = 60000;
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var news = document.getElementById("band-news");
  if (!live || !window.fetch) return;
  var etag = live.getAttribute("data-etag");
  var marked = {}; // band id -> time until which it stays marked

  function bands(root) {
    var found = {};
    var nodes = root.querySelectorAll("[data-band-id]");
    for (var i = 0; i < nodes.length; i++) found[nodes[i].getAttribute("data-band-id")] = nodes[i].getAttribute("data-band");
    return found;
  }

  function applyMarks() {
    var now = Date.now();
    var nodes = live.querySelectorAll("[data-band-id]");
    for (var i = 0; i < nodes.length; i++) {
      var until = marked[nodes[i].getAttribute("data-band-id")];
      nodes[i].classList.toggle("band-changed", !!until && until > now);
    }
  }

  function describe(id) {
    var parts = id.split("|");
    return parts[2].replace(/_/g, " ") + " of " + parts[0].replace(/^[a-z]+:/, "") + " (" + parts[1] + " days)";
  }

  function swap(html) {
    var before = bands(live);
    var focusedId = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : null;
    var template = document.createElement("template");
    template.innerHTML = html;
    var after = bands(template.content);
    var changes = [];
    var now = Date.now();
    Object.keys(after).forEach(function (id) {
      if (before[id] && before[id] !== after[id]) {
        marked[id] = now + MARK_MS;
        changes.push(describe(id) + " is now " + after[id]);
      }
    });
    live.replaceChildren(template.content);
    applyMarks();
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) again.focus();
    }
    if (changes.length && news) news.textContent = changes.slice(0, 3).join("; ") + ".";
  }

  function stamp(text) {
    var time = status && status.querySelector("time");
    if (time) time.textContent = text;
  }

  function poll() {
    var url = new URL(window.location.href);
    url.searchParams.set("part", "live");
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(url.toString(), { headers: headers, cache: "no-store" })
      .then(function (response) {
        if (response.status === 304) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        etag = response.headers.get("ETag");
        var asOf = response.headers.get("X-SEI-As-Of");
        if (asOf) stamp(asOf);
        return response.text();
      })
      .then(function (html) {
        if (html !== null) swap(html);
        applyMarks();
      })
      .catch(function () { /* the worker may be restarting: try again on the next tick */ })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  window.setTimeout(poll, POLL_MS);
})();
