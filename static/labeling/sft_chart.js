// The dashboard's SFT chart: training loss and held-out loss of the latest supervised round.
(function () {
  "use strict";
  function draw() {
    const canvas = document.getElementById("chart-sft");
    const series = document.getElementById("sft-series-data");
    if (!canvas || !series || typeof Chart === "undefined") return;
    const points = JSON.parse(series.textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: points.map((p) => p.step),
        datasets: [
          { label: "training loss (latest SFT round)", data: points.map((p) => p.loss ?? null), borderColor: "#3554d1", backgroundColor: "#3554d1" },
          { label: "held-out loss", data: points.map((p) => p.heldout_loss ?? null), borderColor: "#b42318", backgroundColor: "#b42318", spanGaps: true },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
