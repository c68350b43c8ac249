// Charts on the Quality page, drawn from the JSON the server embeds (json_script).
(function () {
  "use strict";
  function draw() {
    const data = JSON.parse(document.getElementById("quality-data").textContent);
    const opts = { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } };
    new Chart(document.getElementById("chart-kappa"), {
      type: "line",
      data: {
        labels: data.kappa.labels,
        datasets: [
          { label: "Fleiss' κ", data: data.kappa.kappa, borderColor: "#3554d1", backgroundColor: "#3554d1" },
          { label: "observed agreement", data: data.kappa.observed, borderColor: "#157f3b", backgroundColor: "#157f3b" },
        ],
      },
      options: { ...opts, scales: { y: { min: -0.2, max: 1 } } },
    });
    new Chart(document.getElementById("chart-reward-people"), {
      type: "bar",
      data: {
        labels: data.reward_people.labels,
        datasets: [
          { type: "bar", label: "reward model: held-out agreement", data: data.reward_people.reward, backgroundColor: "#7a5af8" },
          { type: "line", label: "annotator–annotator agreement (ceiling)", data: data.reward_people.people, borderColor: "#157f3b", backgroundColor: "#157f3b", pointRadius: 0 },
          { type: "line", label: "chance", data: data.reward_people.labels.map(() => 0.25), borderColor: "#9aa1b1", borderDash: [4, 4], pointRadius: 0 },
        ],
      },
      options: { ...opts, scales: { y: { min: 0, max: 1 } } },
    });
    new Chart(document.getElementById("chart-position"), {
      type: "bar",
      data: {
        labels: ["1", "2", "3", "4"],
        datasets: [
          { label: "share of choices", data: data.position, backgroundColor: "#3554d1" },
          { type: "line", label: "25%", data: [0.25, 0.25, 0.25, 0.25], borderColor: "#9aa1b1", borderDash: [4, 4], pointRadius: 0 },
        ],
      },
      options: { ...opts, scales: { y: { min: 0, max: 1 } } },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
