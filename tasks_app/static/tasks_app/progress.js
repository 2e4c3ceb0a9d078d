// Follow work running in a background job: poll its status URL every second, move the
// progress bar, and reload the page once the work has ended (to show the download or result).
(function () {
  const FINISHED = ["succeeded", "failed", "canceled"];
  const LABELS = { pending: "Waiting", running: "Running" };
  document.querySelectorAll("[data-follow-url]").forEach(function (box) {
    const bar = box.querySelector(".progress-bar");
    const meter = box.querySelector(".progress");
    const text = box.querySelector(".progress-text");
    const label = (box.closest("tr") || document).querySelector(".status");
    const timer = setInterval(async function () {
      let body;
      try {
        const response = await fetch(box.dataset.followUrl, { credentials: "same-origin" });
        if (!response.ok) return;
        body = await response.json();
      } catch (error) {
        return; // the server may be restarting: try again on the next tick
      }
      if (label && LABELS[body.status]) {
        label.textContent = LABELS[body.status];
        label.className = "status status-" + body.status;
      }
      const progress = body.progress || {};
      if (progress.percent !== null && progress.percent !== undefined) {
        bar.style.width = progress.percent + "%";
        meter.setAttribute("aria-valuenow", progress.percent);
        text.textContent = progress.percent + "% (" + progress.current + " of " + progress.total + ")";
      }
      if (FINISHED.includes(body.status)) {
        clearInterval(timer);
        window.location.reload();
      }
    }, 1000);
  });
})();
