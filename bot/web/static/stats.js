// Statistics page: draw one Chart.js chart per table from the JSON block the server wrote.
// The tables beside the charts are the accessible version; charts never plot a hidden
// (suppressed) count as a number: it is a gap, marked "<5" (or "hidden" when the cell is
// hidden only so that a small count beside it cannot be worked out).
"use strict";

const PALETTE = ["#0b4f8a", "#c05a00", "#17602e", "#7a2e8a", "#9b1c1c", "#4a4a4a", "#00707a"];

// Writes "<5" where a category has a hidden count, so a gap is not read as zero.
const hiddenMarks = {
  id: "hiddenMarks",
  afterDatasetsDraw(chart, _args, options) {
    const hidden = options.hidden || [];
    if (!hidden.length) return;
    const horizontal = chart.options.indexAxis === "y";
    const index = horizontal ? chart.scales.y : chart.scales.x;
    const value = horizontal ? chart.scales.x : chart.scales.y;
    const ctx = chart.ctx;
    const rows = new Map();
    for (const [row, , mark] of hidden) if (!rows.has(row)) rows.set(row, mark);
    ctx.save();
    ctx.fillStyle = "#4a4a4a";
    ctx.font = "italic 12px system-ui, sans-serif";
    ctx.textAlign = horizontal ? "left" : "center";
    ctx.textBaseline = horizontal ? "middle" : "bottom";
    for (const [row, mark] of rows) {
      const at = index.getPixelForValue(row);
      const base = value.getPixelForValue(0);
      if (horizontal) ctx.fillText(mark, base + 4, at);
      else ctx.fillText(mark, at, base - 4);
    }
    ctx.restore();
  },
};

function drawChart(spec) {
  const canvas = document.querySelector(`canvas[data-chart="${CSS.escape(spec.id)}"]`);
  if (!canvas || typeof Chart === "undefined" || !spec.labels.length) return false;
  const line = spec.kind === "line";
  const chart = new Chart(canvas, {
    type: line ? "line" : "bar",
    data: {
      labels: spec.labels,
      datasets: spec.datasets.map((set, i) => ({
        label: set.label,
        data: set.data,
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        spanGaps: false,
        pointRadius: line ? 3 : undefined,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: spec.kind === "hbar" ? "y" : "x",
      scales: {
        [spec.kind === "hbar" ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } },
      },
      plugins: {
        legend: { display: spec.datasets.length > 1 },
        hiddenMarks: { hidden: spec.hidden },
        tooltip: {
          callbacks: {
            label: (item) => {
              const mark = spec.hidden.find(
                ([row, col]) => row === item.dataIndex && col === item.datasetIndex,
              );
              return `${item.dataset.label}: ${mark ? mark[2] : item.raw}`;
            },
          },
        },
      },
    },
    plugins: [hiddenMarks],
  });
  canvas.dataset.drawn = String(chart.data.datasets.length);
  return true;
}

document.addEventListener("DOMContentLoaded", () => {
  const block = document.getElementById("chart-data");
  if (!block) return;
  let specs = [];
  try {
    specs = JSON.parse(block.textContent || "[]");
  } catch (err) {
    return; // the tables still show every figure
  }
  let drawn = 0;
  for (const spec of specs) if (drawChart(spec)) drawn++;
  document.body.dataset.chartsDrawn = String(drawn);
});
