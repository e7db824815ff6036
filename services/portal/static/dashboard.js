// The dashboard's charts (Chart.js and its Sankey controller, shipped in static/vendor/).
// The data is computed by the portal (services/portal/dashboard.py) and embedded in the
// page as JSON; every chart has the same figures as a table beside it.
(function () {
  "use strict";

  function draw() {
    const source = document.getElementById("chart-data");
    if (!source || typeof Chart === "undefined") {
      return;
    }
    const data = JSON.parse(source.textContent);
    const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    // No animation for people who ask for less motion, nor for a browser under test
    // (its screenshots would catch the bars half grown).
    if (reduced || navigator.webdriver) {
      Chart.defaults.animation = false;
    }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#1b1f23";

    const volumes = document.getElementById("volumes-chart");
    if (volumes && data.volumes.labels.length) {
      new Chart(volumes, {
        type: "bar",
        data: {
          labels: data.volumes.labels,
          datasets: [
            {
              label: data.volumes.series.tonnes,
              data: data.volumes.tonnes,
              backgroundColor: "#1d5e3a",
              yAxisID: "y",
            },
            {
              label: data.volumes.series.co2e_t,
              data: data.volumes.co2e_t,
              type: "line",
              borderColor: "#7a4a00",
              backgroundColor: "#7a4a00",
              yAxisID: "y1",
            },
          ],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          scales: {
            y: { beginAtZero: true, position: "left" },
            y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } },
          },
        },
      });
    }

    const sankey = document.getElementById("sankey-chart");
    if (sankey && data.sankey.links.length) {
      const labels = data.sankey.labels;
      const palette = ["#1d5e3a", "#2f6f9f", "#7a4a00", "#6b3fa0", "#a4161a", "#3c6e71", "#8a5a44"];
      const colourOf = function (key) {
        let hash = 0;
        for (let i = 0; i < key.length; i += 1) {
          hash = (hash * 31 + key.charCodeAt(i)) >>> 0;
        }
        return palette[hash % palette.length];
      };
      new Chart(sankey, {
        type: "sankey",
        data: {
          datasets: [
            {
              data: data.sankey.links,
              labels: labels,
              colorFrom: function (c) { return colourOf(c.dataset.data[c.dataIndex].from); },
              colorTo: function (c) { return colourOf(c.dataset.data[c.dataIndex].to); },
              colorMode: "gradient",
              size: "max",
            },
          ],
        },
        options: { responsive: true, maintainAspectRatio: false },
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
