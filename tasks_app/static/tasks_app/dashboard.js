// Keep the open page of /ops/ current without reloading it: ask again for its live part
// (#live-panel's data-refresh-url, a few KB) with the ETag last received, so that an unchanged
// part costs a bodiless 304. How often it asks: askGently (app.js). Relative times ("3 min ago") are brought up to date here in
// between, worded as the server words them (dashboard/views.py, `relative`).
(function () {
  const panel = document.getElementById("live-panel");
  if (!panel) return;
  const UNITS = [[2 * 86400, 86400, "d"], [3600, 3600, "h"], [60, 60, "min"], [1, 1, "s"]];
  const skew = Number(panel.dataset.now) - Date.now();  // the server's clock ahead of this one, in ms
  let etag = panel.dataset.etag || null;

  function relative(seconds) {
    const size = Math.abs(seconds);
    for (const [start, unit, word] of UNITS) {
      if (size >= start) {
        const text = Math.floor(size / unit) + " " + word;
        return seconds >= 0 ? text + " ago" : "in " + text;
      }
    }
    return seconds >= 0 ? "just now" : "now";
  }

  function retime() {
    const now = Date.now() + skew;
    document.querySelectorAll("main time[datetime]").forEach((time) => {
      time.textContent = relative(Math.round((now - Date.parse(time.dateTime)) / 1000));
    });
  }

  function inUse() {
    // Never swap the part under a control the person is using.
    const active = document.activeElement;
    return active && active !== document.body && panel.contains(active);
  }

  window.askGently(async () => {
    let changed = false;
    try {
      if (!inUse()) {
        const headers = etag ? { "If-None-Match": etag } : {};
        const response = await fetch(panel.dataset.refreshUrl, { headers, credentials: "same-origin", cache: "no-store" });
        if (response.status === 200) {  // changed (a 304 says it did not)
          etag = response.headers.get("ETag");
          panel.innerHTML = await response.text();
          changed = true;
        }
      }
    } finally {
      if (!changed) retime();  // offline, or the server restarting, too: askGently asks again later
    }
    return changed;
  });
})();
