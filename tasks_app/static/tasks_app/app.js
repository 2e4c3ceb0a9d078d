// Keep the unread-notification badge current without reloading the page: background jobs
// create notifications while the person is looking at something else. A hidden tab asks
// nothing, and the wait between asks doubles (3 s up to a minute) while the count stays the same.
(function () {
  const badge = document.getElementById("unread-badge");
  if (!badge) return;
  const FIRST = 3000, LONGEST = 60000;
  let wait = FIRST, timer = null;
  async function refresh() {
    timer = null;
    if (document.hidden) return;  // visibilitychange asks again when the tab is shown
    try {
      const response = await fetch(badge.dataset.url, { credentials: "same-origin" });
      if (response.ok) {
        const { unread } = await response.json();
        const changed = String(unread) !== badge.textContent.trim();
        badge.textContent = unread;
        badge.classList.toggle("hidden", unread === 0);
        wait = changed ? FIRST : Math.min(wait * 2, LONGEST);
      }
    } catch (error) {
      wait = Math.min(wait * 2, LONGEST);  // offline or restarting: ask again later
    }
    schedule();
  }
  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(refresh, wait);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    clearTimeout(timer);
    timer = null;
    wait = FIRST;
    refresh();
  });
  schedule();
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
