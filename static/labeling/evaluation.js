// The human evaluation chart on the training dashboard: win rate over the baseline with its 95%
// interval per evaluation round, beside the reward model's predicted win rate on the same answers.
(function () {
  "use strict";
  function draw() {
    const canvas = document.getElementById("chart-evaluation");
    if (!canvas || !window.Chart) return;
    const data = JSON.parse(document.getElementById("evaluation-data").textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "human win rate", data: data.human, borderColor: "#157f3b", backgroundColor: "#157f3b" },
          { label: "95% interval (high)", data: data.high, borderColor: "rgba(21,127,59,0.35)", backgroundColor: "rgba(21,127,59,0.12)", pointRadius: 0, borderDash: [3, 3], fill: "+1" },
          { label: "95% interval (low)", data: data.low, borderColor: "rgba(21,127,59,0.35)", pointRadius: 0, borderDash: [3, 3], fill: false },
          { label: "reward model's prediction", data: data.predicted, borderColor: "#b42318", backgroundColor: "#b42318" },
          { label: "no preference (0.5)", data: data.labels.map(() => 0.5), borderColor: "#9aa1b1", borderDash: [4, 4], pointRadius: 0 },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
        plugins: { legend: { position: "bottom" } },
        scales: { y: { min: 0, max: 1, title: { display: true, text: "win rate over baseline" } } },
      },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
