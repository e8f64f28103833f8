"""``keras-au view`` / ``predict --html``: one self-contained HTML page of a ``predict`` CSV.

Video: the video (the overlay, or the source video, re-encoded to H.264 beside the page when Chromium could not
play it), under it Plotly AU curves of the selected face (a line per AU, the threshold, frames without a face
shaded), a playhead that follows the video, a click on the plot that seeks the video, a face selector, a
raw / person-calibrated toggle, and a per-AU table. A folder of images: a grid of thumbnails with AU bars.
Plotly's JS is inlined (no network: the page opens from disk); the page is written to a temporary name first.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
from typing import Optional
from urllib.parse import quote

import numpy as np

from keras_au.inference.atomic import atomic_path, check_writable
from serving.results import (THRESHOLD, Results, ResultsError, au_table, check_calibrated, check_frame_count,
                             frame_rows, pick_video_source, read_results)

MAX_IMAGES = 200  # grid cells; the CSV keeps every row
THUMB = 220  # px, longest side
_STATIC = os.path.join(os.path.dirname(__file__), "static")  # the page scripts, inlined


def write_page(csv_path: str, out_html: str, video: Optional[str] = None, overlay: Optional[str] = None,
               calibrated_csv: Optional[str] = None) -> dict:
    """Writes ``out_html`` for ``csv_path`` (video page when a video is given or the CSV has video rows whose file
    exists, image grid otherwise). Bad inputs raise ``ResultsError`` naming the file, before anything is written."""
    if video and overlay:
        raise ResultsError("give --video or --overlay, not both")
    results = read_results(csv_path)
    cal = read_results(calibrated_csv) if calibrated_csv else None
    if cal is not None:
        check_calibrated(results, cal)
    shown = overlay or video
    if shown is None:
        from keras_au.inference.media import is_video

        videos = [s for s in results.df["source"].unique() if is_video(s)]
        if len(videos) == 1 and os.path.isfile(videos[0]):
            shown = videos[0]
    if shown is None:
        body, info = _image_grid(results)
    else:
        if not os.path.isfile(shown):
            raise ResultsError(f"{shown}: no such video")
        source = pick_video_source(results, video)
        frames = check_frame_count(results, source, shown)
        check_writable(out_html)  # before the video is placed beside it
        src = _playable(shown, out_html)
        body, info = _video_page(results, cal, source, src)
        info.update(video=shown, video_src=src, frames=frames)
    page = _TEMPLATE.format(title=html.escape(os.path.basename(csv_path)), plotly=_plotly_js(), body=body)
    with atomic_path(out_html) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
    return {"html": out_html, "csv": csv_path, "calibrated_csv": calibrated_csv, **info}


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _json(obj) -> str:
    """JSON safe inside <script> (no "</script>" breaking out)."""
    import plotly.io as pio

    text = pio.json.to_json_plotly(obj)
    return text.replace("</", "<\\/")


def _playable(video: str, out_html: str) -> str:
    """A URL (relative to the page) of an H.264/yuv420p mp4 of ``video`` in the page's folder, so page and video
    move together: the file itself when it is one there; ``<page stem>.mp4`` beside the page otherwise (a hard
    link or copy of an H.264 mp4 elsewhere, or a re-encoding with imageio-ffmpeg's bundled ffmpeg)."""
    from keras_au.media import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg()
    here = os.path.dirname(os.path.abspath(out_html))
    gen = ffmpeg.read_frames(video)
    try:
        meta = next(gen)
    except (RuntimeError, StopIteration, OSError) as e:
        raise ResultsError(f"{video}: ffmpeg cannot read it ({e})") from e
    finally:
        gen.close()
    target = os.path.abspath(video)
    playable = (video.lower().endswith(".mp4") and meta.get("codec") == "h264"
                and str(meta.get("pix_fmt", "")).startswith("yuv420p"))
    if playable and os.path.dirname(target) == here:
        return quote(os.path.basename(target))
    target = os.path.splitext(os.path.abspath(out_html))[0] + ".mp4"
    if target == os.path.abspath(video):  # never re-encode a file onto itself
        target = target[:-4] + "_h264.mp4"
    if playable:
        with atomic_path(target) as tmp:
            os.remove(tmp)
            try:
                os.link(video, tmp)  # same file system: no copy
            except OSError:
                shutil.copyfile(video, tmp)
    else:
        with atomic_path(target) as tmp:
            cmd = [ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-i", video, "-an", "-c:v", "libx264",
                   "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                   "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart", "-f", "mp4", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise ResultsError(f"{video}: re-encoding to H.264 failed: {done.stderr.strip()[-400:]}")
    return quote(os.path.basename(target))


def _plain(values: np.ndarray) -> list:
    """Plain JSON numbers (4 decimals, null for gaps): shorter than Plotly's base64 arrays, readable by scripts."""
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _video_page(results: Results, cal: Optional[Results], source: str, src: str) -> tuple[str, dict]:
    import plotly.graph_objects as go

    rows = frame_rows(results.source_rows(source))
    times = rows.groupby("frame")["timestamp"].first().sort_index()
    n = int(times.index.max()) + 1
    t = np.interp(np.arange(n), times.index.to_numpy(), times.to_numpy())  # every frame has a time
    fps = 1.0 / float(np.median(np.diff(t))) if n > 1 and np.median(np.diff(t)) > 0 else 25.0
    ok = rows[rows["success"] == 1]
    faces = sorted(int(f) for f in ok["face_id"].unique()) or [0]
    face = max(faces, key=lambda f: ((ok["face_id"] == f).sum(), -f))  # the face seen longest
    variants = [("raw", results)] + ([("calibrated", cal)] if cal is not None else [])
    fig = go.Figure()
    tables = []
    tx = _plain(t)
    for name, res in variants:
        vrows = frame_rows(res.source_rows(source))
        for f in faces:
            frows = vrows[(vrows["face_id"] == f) & (vrows["success"] == 1)]
            for a in res.au_names:
                y = np.full(n, np.nan)
                y[frows["frame"].to_numpy()] = frows[f"{a}_p"].to_numpy()
                fig.add_trace(go.Scatter(x=tx, y=_plain(y), mode="lines", name=a, legendgroup=a, connectgaps=False,
                                         visible=(f == face and name == "raw"), meta={"face": f, "values": name},
                                         hovertemplate=f"{a} %{{y:.2f}}<extra>face {f}</extra>"))
            tables.append(_table_html(au_table(frows, res.au_names, fps), f, name, f == face and name == "raw"))
    has_face = np.zeros(n, bool)
    has_face[ok["frame"].to_numpy()] = True
    dt = 1.0 / fps
    shapes = [dict(type="rect", xref="x", yref="paper", x0=t[a] - dt / 2, x1=t[b] + dt / 2, y0=0, y1=1,
                   fillcolor="rgba(220,60,60,0.15)", line={"width": 0}, layer="below", name="no_face")
              for a, b in _runs(~has_face)]
    shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=THRESHOLD, y1=THRESHOLD, name="threshold",
                       line={"color": "grey", "dash": "dash", "width": 1}))
    shapes.append(dict(type="line", xref="x", yref="paper", x0=t[0], x1=t[0], y0=0, y1=1, name="playhead",
                       line={"color": "black", "width": 2}))
    fig.update_layout(shapes=shapes, height=380, margin=dict(l=50, r=20, t=30, b=40), hovermode="x unified",
                      xaxis=dict(title="time (s)", range=[t[0] - dt / 2, t[-1] + dt / 2]),
                      yaxis=dict(title="probability", range=[0, 1]),
                      title=dict(text=f"{html.escape(os.path.basename(source))}: AU probability (shaded: no face)",
                                 font={"size": 13}))
    data = {"times": t.tolist(), "fps": fps, "face": face, "faces": faces, "variants": [v for v, _ in variants],
            "threshold": THRESHOLD}
    face_opts = "".join(f'<option value="{f}"{" selected" if f == face else ""}>face {f}</option>' for f in faces)
    value_opts = "".join(f'<option value="{v}">{"person-calibrated" if v == "calibrated" else v}</option>'
                         for v, _ in variants)
    no_face = int((~has_face).sum())
    body = _VIDEO_BODY.format(
        src=html.escape(src), face_opts=face_opts, value_opts=value_opts,
        face_hidden="" if len(faces) > 1 else " hidden", value_hidden="" if cal is not None else " hidden",
        summary=f"{n} frames at {fps:.2f} fps, {len(faces)} face(s), {no_face} frames without a face "
                f"({100 * no_face / n:.1f} %); threshold {THRESHOLD}",
        figure=_json(fig.to_plotly_json()), data=_json(data), tables="".join(tables), js=_read_static("video.js"))
    return body, {"mode": "video", "source": source, "faces": faces, "fps": fps, "calibrated": cal is not None}


def _table_html(stats: list[dict], face: int, values: str, visible: bool) -> str:
    rows = "".join(
        f"<tr><td>{s['au']}</td><td>{100 * s['share_above']:.1f} %</td><td>{s['mean']:.3f}</td>"
        f"<td>{s['longest_frames']} frames ({s['longest_s']:.2f} s)</td></tr>" for s in stats)
    n = stats[0]["frames"] if stats else 0
    return (f'<table class="au-table" data-face="{face}" data-values="{values}"{"" if visible else " hidden"}>'
            f"<caption>face {face}, {'person-calibrated' if values == 'calibrated' else 'raw'} probabilities, "
            f"{n} frames with the face</caption><thead><tr><th>AU</th><th>frames above threshold</th>"
            f"<th>mean probability</th><th>longest episode</th></tr></thead><tbody>{rows}</tbody></table>")


def _image_grid(results: Results) -> tuple[str, dict]:
    """A thumbnail (faces boxed) and a bar chart of each face's AU probabilities per image."""
    import plotly.graph_objects as go

    from keras_au.inference.media import is_video

    df = results.df
    sources = [s for s in df["source"].unique() if not is_video(s)]
    if not sources:
        raise ResultsError(f"{results.path}: only video rows and no video found: give --video or --overlay")
    cells, charts = [], []
    for i, source in enumerate(sources[:MAX_IMAGES]):
        rows = df[df["source"] == source]
        ok = rows[rows["success"] == 1]
        fig = go.Figure([go.Bar(x=results.au_names, y=[float(r[f"{a}_p"]) for a in results.au_names],
                                name=f"face {int(r['face_id'])}") for _, r in ok.iterrows()])
        fig.add_hline(y=THRESHOLD, line_dash="dash", line_color="grey", line_width=1)
        fig.update_layout(height=170, width=THUMB + 40, margin=dict(l=28, r=4, t=4, b=40), showlegend=len(ok) > 1,
                          yaxis=dict(range=[0, 1]), barmode="group", font={"size": 9})
        charts.append(fig.to_plotly_json())
        reason = "" if len(ok) else f'<div class="why">no face: {html.escape(str(rows["reason"].iloc[0]))}</div>'
        cells.append(f'<figure class="cell"><img alt="" src="{_thumbnail(source, ok)}">'
                     f'<figcaption>{html.escape(os.path.basename(source))}</figcaption>{reason}'
                     f'<div class="bars" id="bars-{i}"></div></figure>')
    more = len(sources) - len(cells)
    note = f"<p>{len(sources)} images; the first {len(cells)} shown (all are in the CSV).</p>" if more > 0 else ""
    body = _GRID_BODY.format(summary=f"{len(sources)} images, {int((df['success'] == 1).sum())} faces", note=note,
                             cells="".join(cells), charts=_json(charts), js=_read_static("grid.js"))
    return body, {"mode": "images", "images": len(sources), "shown": len(cells)}


def _thumbnail(path: str, faces) -> str:
    """A JPEG data URI of the image with its faces boxed (a grey tile when the file does not decode)."""
    import cv2

    from keras_au.geometry import ImageError, load_image

    try:
        img = load_image(path)
    except ImageError:
        img = np.full((THUMB, THUMB, 3), 200, np.uint8)
        faces = faces.iloc[:0]
    scale = THUMB / max(img.shape[:2])
    size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
    img = np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA)[:, :, ::-1])
    for _, r in faces.iterrows():
        box = [int(round(float(r[k]) * scale)) for k in ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")]
        cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), (255, 230, 0), 2)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()


def _read_static(name: str) -> str:
    with open(os.path.join(_STATIC, name), encoding="utf-8") as f:
        return f.read()


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keras-au: {title}</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1em auto; max-width: 1100px; padding: 0 1em; }}
video {{ max-width: 100%; max-height: 60vh; display: block; background: #000; }}
.controls {{ margin: .5em 0; }} .controls label {{ margin-right: 1.5em; }}
table {{ border-collapse: collapse; margin-top: 1em; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
td:nth-child(n+2) {{ text-align: right; }} caption {{ text-align: left; font-weight: bold; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }} .cell {{ margin: 0; width: 260px; }}
.cell img {{ max-width: 100%; }} .why {{ color: #c33; }}
</style>
<script>{plotly}</script></head>
<body><h1>keras-au: {title}</h1>
{body}
</body></html>
"""

_VIDEO_BODY = """<p id="summary">{summary}</p>
<video id="video" controls muted preload="auto" src="{src}"></video>
<div class="controls">
<label{face_hidden}>face <select id="face">{face_opts}</select></label>
<label{value_hidden}>values <select id="values">{value_opts}</select></label>
<span id="now"></span></div>
<div id="plot"></div>
<p>Click the plot to seek the video.</p>
{tables}
<script type="application/json" id="figure">{figure}</script>
<script type="application/json" id="page-data">{data}</script>
<script>{js}</script>
"""

_GRID_BODY = """<p id="summary">{summary}</p>{note}
<div class="grid">{cells}</div>
<script type="application/json" id="charts">{charts}</script>
<script>{js}</script>
"""
