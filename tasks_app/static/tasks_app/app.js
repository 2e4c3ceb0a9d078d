// Ask the server again and again, gently: `ask` (async; true when what it fetched changed) runs
// 3 s after the last time, the wait doubling up to a minute while nothing changes. A hidden tab
// asks nothing; a tab shown again asks at once. dashboard.js uses it too.
window.askGently = function (ask) {
  const FIRST = 3000, LONGEST = 60000;
  let wait = FIRST, timer = null;
  async function tick() {
    timer = null;
    if (document.hidden) return;  // visibilitychange asks again when the tab is shown
    let changed = false;
    try {
      changed = await ask();
    } catch (error) {
      // Offline or restarting: ask again later.
    }
    wait = changed ? FIRST : Math.min(wait * 2, LONGEST);
    schedule();
  }
  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(tick, wait);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    clearTimeout(timer);
    timer = null;
    wait = FIRST;
    tick();
  });
  schedule();
};

// Keep the unread-notification badge current without reloading the page: background jobs
// create notifications while the person is looking at something else.
(function () {
  const badge = document.getElementById("unread-badge");
  if (!badge) return;
  window.askGently(async () => {
    const response = await fetch(badge.dataset.url, { credentials: "same-origin" });
    if (!response.ok) return false;
    const { unread } = await response.json();
    const changed = String(unread) !== badge.textContent.trim();
    badge.textContent = unread;
    badge.classList.toggle("hidden", unread === 0);
    return changed;
  });
})();

// Copy buttons: <button data-copy="#element-id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const text = document.querySelector(button.dataset.copy).textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (error) {
    button.textContent = "Select and copy it";
  }
});

// A person with no time zone yet gets the browser's, saved once from the first page they open.
(function () {
  const url = document.body.dataset.timeZoneUrl;
  const token = document.querySelector("input[name=csrfmiddlewaretoken]");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!url || !token || !zone) return;
  fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": token.value, "X-Time-Zone-From": "browser" },
    body: new URLSearchParams({ time_zone: zone }),
  }).catch(() => {});  // offline: the next page tries again
})();
