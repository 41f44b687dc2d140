// Keeps the console's live regions fresh over Server-Sent Events.
//
// The server renders every region (the same HTML as the first page load) and sends them
// together whenever something changed; this script only swaps a region when its HTML
// changed (compared as the browser parses it, so the first update after a page load, which
// repeats what the page already shows, changes nothing), so a form someone is filling in
// elsewhere on the page is left alone. The
// browser's EventSource reconnects by itself after a daemon restart; if the session has
// ended the stream is refused and the page reloads, which leads to the login page.
(function () {
  "use strict";
  var announcer = document.getElementById("bejelentes");

  function apply(msg) {
    var regions = msg.regions || {};
    Object.keys(regions).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) { return; }
      if (id === "munkalista-szam") {
        if (el.textContent !== regions[id]) {
          el.textContent = regions[id];
          el.setAttribute("aria-label", regions[id] + " nyitott tétel");
        }
        return;
      }
      var parsed = document.createElement("template");
      parsed.innerHTML = regions[id];
      if (parsed.innerHTML === el.innerHTML) { return; }
      // Do not replace a region while someone is typing or choosing inside it.
      if (el.contains(document.activeElement) && document.activeElement.matches("input, select, textarea")) { return; }
      el.innerHTML = parsed.innerHTML;
    });
    if (msg.announce && announcer) {
      announcer.textContent = "";
      window.setTimeout(function () { announcer.textContent = msg.announce; }, 50);
    }
  }

  function connect() {
    if (!window.EventSource) { return; }
    var es = new EventSource("/esemenyek");
    es.addEventListener("frissites", function (e) {
      try { apply(JSON.parse(e.data)); } catch (err) { /* a broken message is skipped */ }
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (the session ended) or the daemon gone for long: check in a moment.
        window.setTimeout(function () {
          fetch("/esemenyek", { method: "HEAD", credentials: "same-origin" }).then(function (r) {
            if (r.status === 401) { window.location.reload(); } else { connect(); }
          }, function () { window.setTimeout(connect, 2000); });
        }, 1000);
      }
    };
  }
  connect();
}());
