// keras-au results page (video): playhead follows the video, a click on the plot seeks it, face / values selectors.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("page-data").textContent);
  const fig = JSON.parse(document.getElementById("figure").textContent);
  const video = document.getElementById("video");
  const plot = document.getElementById("plot");
  const faceSel = document.getElementById("face");
  const valueSel = document.getElementById("values");
  const state = { face: D.face, values: "raw" };
  const playhead = fig.layout.shapes.findIndex((s) => s.name === "playhead");
  let shown = -1;

  // The frame on screen at time t: frame i covers [i / fps, (i + 1) / fps).
  function frameAt(t) {
    const i = Math.floor(t * D.fps + 1e-3);
    return Math.max(0, Math.min(D.times.length - 1, i));
  }

  function follow() {
    const i = frameAt(video.currentTime);
    if (i === shown) return;
    shown = i;
    const t = D.times[i];
    const update = {};
    update["shapes[" + playhead + "].x0"] = t;
    update["shapes[" + playhead + "].x1"] = t;
    Plotly.relayout(plot, update);
    document.getElementById("now").textContent = "frame " + i + ", " + t.toFixed(2) + " s";
  }

  function loop() {  // smoother than timeupdate (4 per second) while playing
    follow();
    if (!video.paused && !video.ended) requestAnimationFrame(loop);
  }

  function show() {
    const visible = plot.data.map((tr) => tr.meta.face === state.face && tr.meta.values === state.values);
    Plotly.restyle(plot, { visible: visible });
    document.querySelectorAll(".au-table").forEach((el) => {
      el.hidden = Number(el.dataset.face) !== state.face || el.dataset.values !== state.values;
    });
  }

  // A click (not a zoom drag) inside the axes seeks the video to the time under the pointer.
  let down = null;
  function seekFromClick(e) {
    if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;
    const xa = plot._fullLayout.xaxis;
    const ya = plot._fullLayout.yaxis;
    const box = plot.getBoundingClientRect();
    const px = e.clientX - box.left - xa._offset;
    const py = e.clientY - box.top - ya._offset;
    if (px < 0 || px > xa._length || py < 0 || py > ya._length) return;
    const end = isFinite(video.duration) ? video.duration : Infinity;
    video.currentTime = Math.max(0, Math.min(end, xa.p2l(px)));
  }

  // A double click returns to the whole clip, never to an autorange: two quick clicks (a double click for Plotly)
  // must not move the axis under the pointer (autorange drops the half-frame margins the layout sets).
  Plotly.newPlot(plot, fig.data, fig.layout, { responsive: true, displaylogo: false, doubleClick: "reset" }).then(() => {
    plot.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; }, true);
    plot.addEventListener("click", seekFromClick);
    video.addEventListener("timeupdate", follow);
    video.addEventListener("seeked", follow);
    video.addEventListener("play", () => requestAnimationFrame(loop));
    faceSel.addEventListener("change", () => { state.face = Number(faceSel.value); show(); });
    valueSel.addEventListener("change", () => { state.values = valueSel.value; show(); });
    follow();
    document.body.dataset.ready = "1";  // for tests and scripts: the plot and its handlers are in place
  });
})();
