// graphile_worker dashboard: live regions, select-all. No build step, no dependency.
// Live: the page listens to <base>/events (server-sent events); on each event it re-reads
// itself and replaces the [data-live] regions whose content changed, keeping the ticked
// checkboxes. Without EventSource, or when the stream keeps failing, it polls instead.
(function () {
  "use strict";
  var body = document.body;
  var base = body.dataset.base || "";
  var refreshMs = parseInt(body.dataset.refresh, 10) || 2000;
  var indicator = document.getElementById("live");
  var pendingMs = 300, pendingErrorMs = 2000;
  var busy = false, again = false, pollTimer = null, source = null, failures = 0, opened = false;

  function setMode(mode) {
    body.dataset.liveMode = mode;
    if (indicator) { indicator.className = "live " + mode; indicator.title = "live updates: " + mode; }
  }

  function checkedIds() {
    var ids = {};
    document.querySelectorAll("input.select:checked").forEach(function (box) { ids[box.value] = true; });
    return ids;
  }

  function refresh() {
    if (document.hidden) { return; }
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-GW-Live": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.redirected) { return null; }
        if (!response.ok) {
          // An error keeps the page as it is, but a page still waiting for its counts says why
          // they do not come (the error page's message), and asks again.
          if (document.querySelector("[data-pending]")) {
            return response.text().then(function (text) { pendingFailed(text, response.status); return null; });
          }
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var keep = checkedIds();
        document.querySelectorAll("[data-live][id]").forEach(function (region) {
          var fresh = doc.getElementById(region.id);
          if (fresh && fresh.innerHTML !== region.innerHTML) {
            region.replaceWith(document.adoptNode(fresh));
          }
        });
        document.querySelectorAll("input.select").forEach(function (box) { box.checked = !!keep[box.value]; });
        body.dataset.refreshes = String((parseInt(body.dataset.refreshes, 10) || 0) + 1);
        soon();
      })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  // A page shown before its counts were read ([data-pending]) fetches itself again shortly.
  function soon() {
    if (document.querySelector("[data-pending]")) { window.setTimeout(refresh, pendingMs); }
  }

  function pendingFailed(html, status) {
    var found = new DOMParser().parseFromString(html, "text/html").getElementById("error-message");
    var why = found ? found.textContent.trim() : "HTTP " + status;
    document.querySelectorAll("[data-pending]").forEach(function (pending) {
      pending.classList.add("error");
      pending.dataset.failed = String(status);
      // textContent: the message is the server's text, never markup
      pending.textContent = "The counts could not be read: " + why + " Trying again every " +
        pendingErrorMs / 1000 + " s.";
    });
    window.setTimeout(refresh, pendingErrorMs);
  }

  function poll() {
    if (source) { source.close(); source = null; }
    if (!pollTimer) { pollTimer = window.setInterval(refresh, refreshMs); }
    setMode("polling");
  }

  function listen() {
    if (typeof window.EventSource === "undefined") { poll(); return; }
    source = new EventSource(base + "/events");
    source.onopen = function () { opened = true; failures = 0; setMode("sse"); };
    source.addEventListener("change", refresh);
    source.addEventListener("tick", refresh);
    source.onerror = function () {
      // Never opened (blocked by a proxy, refused): poll at once. Opened once: the browser
      // reconnects by itself; poll after three failures in a row.
      failures += 1;
      setMode("reconnecting");
      if (!opened || failures >= 3 || source.readyState === 2) { poll(); }
    };
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.id === "select-all") {
      document.querySelectorAll("input.select").forEach(function (box) { box.checked = target.checked; });
    }
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });

  if (document.querySelector("[data-live][id]")) { listen(); soon(); } else { setMode("static"); }
})();
