// Keep the unread-notification badge current without reloading the page: background jobs
// create notifications while the person is looking at something else.
(function () {
  const badge = document.getElementById("unread-badge");
  if (!badge) return;
  async function refresh() {
    try {
      const response = await fetch(badge.dataset.url, { credentials: "same-origin" });
      if (!response.ok) return;
      const { unread } = await response.json();
      badge.textContent = unread;
      badge.classList.toggle("hidden", unread === 0);
    } catch (error) {
      // Offline or restarting: try again on the next tick.
    }
  }
  setInterval(refresh, 3000);
})();
