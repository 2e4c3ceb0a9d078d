// Follow work running in a background job: poll its status URL every second, move the
// progress bar, and reload the page once the work has ended (to show the download or result).
// While an operator has paused its job, say so rather than "waiting for a worker".
(function () {
  const FINISHED = ["succeeded", "failed", "canceled"];
  const LABELS = { pending: "Waiting", running: "Running" };
  const WAITING = { false: "waiting for a worker…", true: "paused by an operator: it starts once resumed" };
  document.querySelectorAll("[data-follow-url]").forEach(function (box) {
    const bar = box.querySelector(".progress-bar");
    const meter = box.querySelector(".progress");
    const text = box.querySelector(".progress-text");
    const label = (box.closest("tr") || document).querySelector(".status");
    async function follow() {
      let body;
      try {
        const response = await fetch(box.dataset.followUrl, { credentials: "same-origin" });
        if (!response.ok) return;
        body = await response.json();
      } catch (error) {
        return; // the server may be restarting: try again on the next tick
      }
      const paused = body.status === "pending" && body.paused === true;
      if (label && LABELS[body.status]) {
        label.textContent = paused ? "Paused" : LABELS[body.status];
        label.className = "status status-" + (paused ? "paused" : body.status);
      }
      const progress = body.progress || {};
      if (progress.percent !== null && progress.percent !== undefined) {
        bar.style.width = progress.percent + "%";
        meter.setAttribute("aria-valuenow", progress.percent);
        text.textContent = progress.percent + "% (" + progress.current + " of " + progress.total + ")";
      } else if (body.status === "pending") {
        text.textContent = WAITING[paused];
      }
      if (FINISHED.includes(body.status)) {
        clearInterval(timer);
        window.location.reload();
      }
    }
    const timer = setInterval(follow, 1000);
    follow(); // at once: a paused job is named as such without a second's "waiting for a worker"
  });
})();
