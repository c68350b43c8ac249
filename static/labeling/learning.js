// The dashboard's learning panel (templates/labeling/partials/learning_panel.html): reward models
// on the anchor set beside the labelers' ceiling, and KL control across policy rounds.
(function () {
  "use strict";
  function draw() {
    const node = document.getElementById("learning-chart-data");
    if (!node || typeof Chart === "undefined") return;
    const data = JSON.parse(node.textContent);
    const opts = { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } };
    new Chart(document.getElementById("chart-anchor"), {
      type: "line",
      data: {
        labels: data.anchor.labels,
        datasets: [
          { label: "anchor-set agreement", data: data.anchor.agreement, borderColor: "#3554d1", backgroundColor: "#3554d1" },
          { label: "95% low", data: data.anchor.low, borderColor: "#9db0f0", borderDash: [2, 3], pointRadius: 0 },
          { label: "95% high", data: data.anchor.high, borderColor: "#9db0f0", borderDash: [2, 3], pointRadius: 0 },
          { label: "labelers with each other (ceiling)", data: data.anchor.ceiling, borderColor: "#157f3b", borderDash: [6, 4], pointRadius: 0 },
          { label: "held-out agreement (drifts with the policy)", data: data.anchor.heldout, borderColor: "#9aa1b1", backgroundColor: "#9aa1b1" },
          { label: "chance (0.25)", data: data.anchor.labels.map(() => 0.25), borderColor: "#d0d4dc", borderDash: [4, 4], pointRadius: 0 },
        ],
      },
      options: { ...opts, scales: { y: { min: 0, max: 1 } } },
    });
    new Chart(document.getElementById("chart-kl-control"), {
      type: "line",
      data: {
        labels: data.kl.labels,
        datasets: [
          { label: "KL (nats per answer)", data: data.kl.kl, borderColor: "#b42318", backgroundColor: "#b42318", yAxisID: "y" },
          { label: "KL target", data: data.kl.kl_target, borderColor: "#b42318", borderDash: [6, 4], pointRadius: 0, yAxisID: "y" },
          { label: "β at start (carried)", data: data.kl.beta_start, borderColor: "#c4b5fd", backgroundColor: "#c4b5fd", yAxisID: "y1" },
          { label: "β at end", data: data.kl.beta_final, borderColor: "#7a5af8", backgroundColor: "#7a5af8", yAxisID: "y1" },
        ],
      },
      options: { ...opts, scales: { y: { position: "left", min: 0 }, y1: { position: "right", grid: { drawOnChartArea: false } } } },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
