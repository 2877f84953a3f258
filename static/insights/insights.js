// Insights charts: resolution by use case (AI vs human, with 95% intervals) and AI vs human over time.
(function () {
  const data = JSON.parse(document.getElementById("insights-data").textContent);
  const AI = "#3b5bdb", HUMAN = "#12b886";
  const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  const ci = (arm) => (arm.resolution_rate_ci ? arm.resolution_rate_ci.map(pct) : null);

  const useCases = data.use_cases;
  new Chart(document.getElementById("by-use-case"), {
    type: "bar",
    data: {
      labels: useCases.map((u) => u.name),
      datasets: [
        { label: "AI resolution %", data: useCases.map((u) => pct(u.ai.resolution_rate)), backgroundColor: AI },
        { label: "Human resolution %", data: useCases.map((u) => pct(u.human.resolution_rate)), backgroundColor: HUMAN },
        // The intervals as thin floating bars behind the rates.
        { label: "AI 95% CI", data: useCases.map((u) => ci(u.ai)), backgroundColor: "rgba(59,91,219,.25)", barPercentage: 0.3 },
        { label: "Human 95% CI", data: useCases.map((u) => ci(u.human)), backgroundColor: "rgba(18,184,134,.25)", barPercentage: 0.3 },
      ],
    },
    options: {
      scales: { y: { min: 0, max: 100, title: { display: true, text: "% of closed conversations" } } },
      plugins: {
        tooltip: {
          callbacks: {
            afterLabel: (item) => {
              const u = useCases[item.dataIndex];
              const arm = item.datasetIndex % 2 === 0 ? u.ai : u.human;
              return `${arm.closed} closed`;
            },
          },
        },
      },
    },
  });

  const s = data.series;
  new Chart(document.getElementById("over-time"), {
    type: "line",
    data: {
      labels: s.days,
      datasets: [
        { label: "AI resolution %", data: s.ai.resolution_rate.map(pct), borderColor: AI, backgroundColor: AI, spanGaps: true, yAxisID: "rate" },
        { label: "Human resolution %", data: s.human.resolution_rate.map(pct), borderColor: HUMAN, backgroundColor: HUMAN, spanGaps: true, yAxisID: "rate" },
        { label: "AI closed", type: "bar", data: s.ai.closed, backgroundColor: "rgba(59,91,219,.2)", yAxisID: "count" },
        { label: "Human closed", type: "bar", data: s.human.closed, backgroundColor: "rgba(18,184,134,.2)", yAxisID: "count" },
      ],
    },
    options: {
      scales: {
        rate: { position: "left", min: 0, max: 100, title: { display: true, text: "resolution %" } },
        count: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "closed" } },
      },
    },
  });
})();
