"""``keras_au.Detector``: AU predictions as a pandas DataFrame (what py-feat and OpenFace users expect).

One code path with ``keras-au predict``: both run ``keras_au.inference.predict.Predictor`` (detection, landmark
tracking in videos, alignment, batched model calls); the CLI writes the rows as CSV, ``predict``
returns them as a DataFrame with the CSV's columns:

``frame, timestamp, face_id, success, confidence, bbox_x0 … bbox_y1, AU01_p …, AU01_c …, source, reason``

Rows where ``success = 0`` (no face, unreadable file, ...) have NaN box/AU cells and say why in
``reason``; ``AUxx_c`` is a nullable integer column for that reason.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np

from keras_au.inference.columns import calibrated_path
from keras_au.inference.media import DEFAULT_FPS, Frame
from keras_au.inference.predict import PredictSummary, Predictor, Source, au_cells, columns, path_sources

Input = Union[str, "np.ndarray"]


def _array_source(name: str, array: np.ndarray, fps: float) -> Source:
    """An RGB image (H, W, 3) is one frame; a stack (N, H, W, 3) is a clip, tracked like a video."""
    from keras_au.geometry import ImageError, to_rgb_uint8

    arr = np.asarray(array)
    video = arr.ndim == 4
    stack = arr if video else arr[None]

    def frames():
        for i, img in enumerate(stack):
            try:
                yield Frame(name, i, i / fps if video else 0.0, to_rgb_uint8(img))
            except ImageError as e:  # a NaN/empty/odd-shaped array is a success=0 row, like a bad file
                yield Frame(name, i, i / fps if video else 0.0, None, e.reason, str(e))

    return Source(name, video, len(stack), frames)


class _Landmarks:
    """Row hook: keeps one source's landmarks, ``frame -> face_id -> (68, 2)`` float32, for the overlay pass."""

    def __init__(self, source: Optional[str]):
        self.source = source
        self.by_frame: dict[int, dict[int, np.ndarray]] = {}

    def __call__(self, row: dict) -> dict:
        lm = row.get("_landmarks")
        if self.source is not None and lm is not None and row["source"] == self.source:
            self.by_frame.setdefault(int(row["frame"]), {})[int(row["face_id"])] = np.asarray(lm, np.float32)
        return row


class Detector:
    """AU detector over a model path: serving version dir or base dir, ``keras-au export`` dir, or ``.tflite``.

    >>> det = keras_au.Detector("runs/demo/serving_model/keras_au")
    >>> df = det.predict(["face.jpg", "clip.mp4"])          # one row per face per frame
    >>> df[df.success == 1].filter(like="_p")                # AU probabilities
    """

    def __init__(self, model_path: str, batch_size: int = 32, all_faces: bool = False, detect_every: int = 10,
                 num_threads: Optional[int] = None, fps: float = DEFAULT_FPS):
        from keras_au.inference.backends import open_model

        self.model = open_model(model_path, num_threads=num_threads)
        self.predictor = Predictor(self.model, batch_size=batch_size, all_faces=all_faces, detect_every=detect_every)
        self.fps = fps  # timestamps of (N, H, W, 3) arrays
        self.last_summary: Optional[PredictSummary] = None
        self.last_overlay: Optional[dict] = None

    @property
    def au_names(self) -> list[str]:
        return list(self.model.info.au_names)

    @property
    def columns(self) -> list[str]:
        return columns(self.au_names)

    def sources(self, inputs: Union[Input, Sequence[Input]]) -> tuple[list[Source], list[str]]:
        """Paths (files, folders) and numpy arrays -> sources in order, plus folder files skipped."""
        items = [inputs] if isinstance(inputs, (str, np.ndarray)) else list(inputs)
        sources, skipped = [], []
        for i, item in enumerate(items):
            if isinstance(item, np.ndarray):
                sources.append(_array_source(f"array[{i}]", item, self.fps))
            else:
                found, left = path_sources([str(item)])
                sources += found
                skipped += left
        return sources, skipped

    def predict(self, inputs: Union[Input, Sequence[Input]], progress: bool = False, calibrate: bool = False,
                overlay: Optional[str] = None):
        """Images, folders, videos or numpy RGB arrays -> ``pandas.DataFrame`` (the ``predict`` CSV's columns).

        ``calibrate=True`` removes each face track's own offset (OpenFace-style person-specific normalisation,
        ``keras_au.person_calibration``; tracks of >= 30 frames, so videos only). ``overlay`` (one video or
        (N, H, W, 3) clip): an H.264 mp4 of every frame with boxes, landmarks and AU bars (``inference.overlay``).
        Counts (faces, frames, ``success = 0`` reasons, skipped folder files) are in ``last_summary``."""
        sources, skipped = self.sources(inputs)
        if not sources:
            raise FileNotFoundError(f"no images, videos or arrays in {inputs!r}")
        video = self._overlay_source(sources, overlay)
        summary = PredictSummary(sources=len(sources), skipped_files=skipped)
        marks = _Landmarks(video.name if video else None)
        self.last_overlay = None
        rows = [marks(r) for r in self.predictor.rows(sources, summary, progress)]
        self.last_summary = summary
        df = self._frame(rows)
        if calibrate:
            from keras_au.person_calibration import calibrate_dataframe

            df = calibrate_dataframe(df, self.au_names)
        if video is not None:
            self.last_overlay = self._overlay(video, df, marks, overlay, calibrate)
        return df

    def predict_csv(self, inputs: Sequence[str], out_csv: str, progress: bool = True, calibrate: bool = False,
                    overlay: Optional[str] = None) -> PredictSummary:
        """The same rows written as CSV (what ``keras-au predict`` does), streamed for long videos. ``calibrate``
        also writes the person-calibrated rows to ``calibrated_path(out_csv)``; ``overlay`` as in ``predict``
        (drawn with the calibrated values when ``calibrate``). Every output is checked writable first."""
        import pandas as pd

        from keras_au.inference.atomic import atomic_path, check_writable

        sources, skipped = self.sources(inputs)
        if not sources:
            raise FileNotFoundError(f"no images or videos in {', '.join(map(str, inputs))}")
        video = self._overlay_source(sources, overlay)
        for path in (out_csv, calibrated_path(out_csv) if calibrate else None, overlay):
            if path:
                check_writable(path)
        summary = PredictSummary(sources=len(sources), skipped_files=skipped)
        marks = _Landmarks(video.name if video else None)
        self.last_overlay = None
        self.last_summary = self.predictor.write_csv(sources, out_csv, summary, progress, on_row=marks)
        table = None
        if calibrate or video is not None:
            table = pd.read_csv(out_csv)
        if calibrate:
            from keras_au.person_calibration import calibrate_dataframe

            table = calibrate_dataframe(table, self.au_names)
            written = table.copy()  # the raw CSV's look: 4-decimal probabilities, 0/1 classes
            for a in self.au_names:
                written[f"{a}_p"] = written[f"{a}_p"].round(4)
                written[f"{a}_c"] = written[f"{a}_c"].astype("Int64")
            with atomic_path(calibrated_path(out_csv)) as tmp:
                written.to_csv(tmp, index=False)
        if video is not None:
            self.last_overlay = self._overlay(video, table, marks, overlay, calibrate)
        return self.last_summary

    @staticmethod
    def _overlay_source(sources: Sequence[Source], overlay: Optional[str]) -> Optional[Source]:
        if not overlay:
            return None
        if len(sources) != 1 or not sources[0].video:
            names = ", ".join(s.name for s in sources[:3]) + (" ..." if len(sources) > 3 else "")
            raise ValueError(f"--overlay draws one video: give exactly one video (or clip array), got {names}")
        return sources[0]

    def _overlay(self, video: Source, table, marks: "_Landmarks", path: str, calibrated: bool) -> dict:
        from keras_au.inference.media import video_fps
        from keras_au.inference.overlay import render_overlay

        rows = table[table["source"] == video.name].to_dict("records")
        fps = video_fps(video.name) if os.path.isfile(video.name) else self.fps
        return render_overlay(video.open(), rows, marks.by_frame, self.au_names, path, fps,
                              calibrated=calibrated, name=video.name)

    def predict_aligned(self, faces: np.ndarray, landmarks: Optional[np.ndarray] = None):
        """Already aligned 200x200 faces (``keras_au.geometry.align_face``), RGB in [0, 255], with their 68
        landmarks in that frame (``None``: the model's mean shape) -> one DataFrame row per face.

        A face or landmark set with NaN/inf gets a ``success = 0`` row (``reason = "nonfinite_input"``)."""
        from keras_au.data.schema import IMAGE_SIZE, NUM_LANDMARKS

        faces = np.asarray(faces, np.float32)
        if faces.ndim == 3:
            faces = faces[None]
        if faces.ndim != 4 or faces.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"faces must be (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) aligned RGB, got {faces.shape}")
        if landmarks is None:
            landmarks = np.repeat(self.model.info.mean_landmarks_200[None], len(faces), axis=0)
        landmarks = np.asarray(landmarks, np.float32).reshape(-1, NUM_LANDMARKS, 2)
        if len(landmarks) != len(faces):
            raise ValueError(f"{len(faces)} faces but {len(landmarks)} landmark sets")
        ok = np.isfinite(faces).all(axis=(1, 2, 3)) & np.isfinite(landmarks).all(axis=(1, 2))
        probs = np.zeros((len(faces), len(self.au_names)), np.float32)
        idx = np.flatnonzero(ok)
        for start in range(0, len(idx), self.predictor.batch_size):
            chunk = idx[start : start + self.predictor.batch_size]
            probs[chunk] = self.model(faces[chunk], landmarks[chunk])
        rows = []
        for i in range(len(faces)):
            row = {"frame": i, "timestamp": 0.0, "face_id": 0, "success": int(ok[i]), "source": "aligned",
                   "reason": "" if ok[i] else "nonfinite_input"}
            rows.append({**row, **au_cells(self.au_names, probs[i])} if ok[i] else {**row, "face_id": -1})
        return self._frame(rows)

    def _frame(self, rows: list[dict]):
        import pandas as pd

        df = pd.DataFrame(rows, columns=self.columns)
        for name in ("frame", "face_id", "success"):
            df[name] = df[name].astype("int64")
        for name in ("timestamp", "confidence", "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1",
                     *(f"{a}_p" for a in self.au_names)):
            df[name] = df[name].astype("float64")
        for name in (f"{a}_c" for a in self.au_names):
            df[name] = df[name].astype("Int64")  # nullable: no class where there is no face
        return df
