// keras-au results page (images): one static Plotly bar chart per thumbnail.
(function () {
  "use strict";
  const charts = JSON.parse(document.getElementById("charts").textContent);
  Promise.all(charts.map((fig, i) => Plotly.newPlot("bars-" + i, fig.data, fig.layout,
    { staticPlot: true, displayModeBar: false }))).then(() => { document.body.dataset.ready = "1"; });
})();
