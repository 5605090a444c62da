// newsmon: draw the coverage page's charts from the JSON the page carries.
document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("coverage-data").textContent);
  // Colours with enough contrast on white, one per source and per run outcome.
  const palette = ["#1f5fa8", "#b3541e", "#2e7d32", "#6a1b9a", "#00838f", "#8d6e00"];
  const outcome = {
    ok: "#2e7d32", partial: "#8d6e00", blocked: "#6a1b9a", failed: "#c62828", interrupted: "#546e7a",
  };
  function daysUpTo(end) {
    const last = new Date(`${end}T00:00:00Z`);
    const days = [];
    for (let i = data.days - 1; i >= 0; i--) {
      days.push(new Date(last.getTime() - i * 86400000).toISOString().slice(0, 10));
    }
    return days;
  }
  function stacked(canvasId, rows, seriesKey, valueKey, colour, days) {
    const names = [...new Set(rows.map((r) => r[seriesKey]))].sort();
    const datasets = names.map((name, i) => ({
      label: name,
      backgroundColor: colour(name, i),
      data: days.map((day) => rows
        .filter((r) => r.day === day && r[seriesKey] === name)
        .reduce((sum, r) => sum + r[valueKey], 0)),
    }));
    new Chart(document.getElementById(canvasId), {
      type: "bar",
      data: { labels: days, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked: true, ticks: { maxTicksLimit: 10 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }
  stacked("chart-articles", data.articles_per_day, "source", "articles", (_, i) => palette[i % palette.length],
    daysUpTo(data.articles_end));
  stacked("chart-runs", data.runs_per_day, "status", "runs", (name, i) => outcome[name] || palette[i % palette.length],
    daysUpTo(data.runs_end));
  document.body.dataset.chartsDrawn = "yes";
});
