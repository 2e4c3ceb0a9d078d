// Refresh the operations panel in place every few seconds, without reloading the page.
(function () {
  const panel = document.getElementById("live-panel");
  if (!panel) return;
  const url = panel.dataset.refreshUrl;
  async function refresh() {
    // Never swap the panel under a form the person is using.
    if (panel.contains(document.activeElement) && document.activeElement.tagName !== "BODY") return;
    try {
      const response = await fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
      if (response.ok) panel.innerHTML = await response.text();
    } catch (error) {
      // The server may be restarting; try again on the next tick.
    }
  }
  setInterval(refresh, 3000);
})();
