// Charts on the training dashboard, drawn from the JSON the server embeds (json_script).
(function () {
  "use strict";
  function draw() {
    const data = JSON.parse(document.getElementById("chart-data").textContent);
    const opts = { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } };
    new Chart(document.getElementById("chart-reward"), {
      type: "line",
      data: {
        labels: data.reward.labels,
        datasets: [
          { label: "held-out top-1 agreement", data: data.reward.agreement, borderColor: "#3554d1", backgroundColor: "#3554d1" },
          { label: "chance (0.25)", data: data.reward.labels.map(() => 0.25), borderColor: "#9aa1b1", borderDash: [4, 4], pointRadius: 0 },
        ],
      },
      options: { ...opts, scales: { y: { min: 0, max: 1 } } },
    });
    new Chart(document.getElementById("chart-policy"), {
      type: "line",
      data: {
        labels: data.policy.labels,
        datasets: [
          { label: "reward", data: data.policy.reward, borderColor: "#157f3b", backgroundColor: "#157f3b", yAxisID: "y" },
          { label: "KL (nats)", data: data.policy.kl, borderColor: "#b42318", backgroundColor: "#b42318", yAxisID: "y" },
          { label: "β", data: data.policy.beta, borderColor: "#7a5af8", backgroundColor: "#7a5af8", yAxisID: "y1" },
        ],
      },
      options: { ...opts, scales: { y: { position: "left" }, y1: { position: "right", grid: { drawOnChartArea: false } } } },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
