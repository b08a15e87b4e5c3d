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
    // A mark too close to the previous one is left out (the table has every figure):
    // on a phone a month's days are a few pixels apart, and marks would overprint.
    let last = -Infinity;
    for (const [row, mark] of [...rows].sort((a, b) => a[0] - b[0])) {
      const at = index.getPixelForValue(row);
      const base = value.getPixelForValue(0);
      const room = horizontal ? 14 : ctx.measureText(mark).width + 4;
      if (Math.abs(at - last) < room) continue;
      last = at;
      if (horizontal) ctx.fillText(mark, base + 4, at);
      else ctx.fillText(mark, at, base - 4);
    }
    ctx.restore();
  },
};

// Long labels of a horizontal bar chart on a narrow screen: broken into lines at spaces
// (Chart.js draws an array as lines), so the axis is never wider than the chart allows and
// no label is cut off at the canvas's edge.
function wrapLabel(label, maxChars) {
  const words = String(label).split(" ");
  const lines = [];
  let current = "";
  for (const word of words) {
    if (current && (current + " " + word).length > maxChars) {
      lines.push(current);
      current = word;
    } else {
      current = current ? current + " " + word : word;
    }
  }
  if (current) lines.push(current);
  return lines.length > 1 ? lines : lines[0] || "";
}

// Whether every label of the category axis fits beside the bars (for the tests, and a
// clear signal when a new table's labels do not).
function labelsFit(chart, horizontal) {
  if (!horizontal) return true;
  const scale = chart.scales.y;
  const ctx = chart.ctx;
  ctx.save();
  ctx.font = Chart.helpers.toFont(scale.options.ticks.font).string;
  let widest = 0;
  for (const label of chart.data.labels) {
    for (const line of [].concat(label)) widest = Math.max(widest, ctx.measureText(line).width);
  }
  ctx.restore();
  return scale.left >= 0 && widest <= scale.width;
}

function drawChart(spec) {
  const canvas = document.querySelector(`canvas[data-chart="${CSS.escape(spec.id)}"]`);
  if (!canvas || typeof Chart === "undefined" || !spec.labels.length) return false;
  const line = spec.kind === "line";
  const horizontal = spec.kind === "hbar";
  const box = canvas.parentElement;
  let labels = spec.labels;
  if (horizontal) {
    // About 6.5 px a character at 12 px; the labels may take at most 45 % of the width.
    const maxChars = Math.max(10, Math.floor((box.clientWidth * 0.45) / 6.5));
    labels = spec.labels.map((label) => wrapLabel(label, maxChars));
    const lines = labels.reduce((n, label) => n + [].concat(label).length, 0);
    const needed = lines * 16 + labels.length * 8 + 60; // lines, gaps between bars, axis
    if (needed > box.clientHeight) box.style.height = `${needed}px`;
  }
  const chart = new Chart(canvas, {
    type: line ? "line" : "bar",
    data: {
      labels,
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
      indexAxis: horizontal ? "y" : "x",
      scales: {
        [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } },
        [horizontal ? "y" : "x"]: { ticks: { autoSkip: !horizontal } },
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
  canvas.dataset.labelsFit = labelsFit(chart, horizontal) ? "yes" : "no";
  return true;
}

// Paper is narrower than the screen: charts are redrawn at the printed size.
window.addEventListener("beforeprint", () => {
  if (typeof Chart === "undefined") return;
  for (const chart of Object.values(Chart.instances)) chart.resize();
});

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
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
