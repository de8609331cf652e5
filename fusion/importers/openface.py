"""OpenFace 2.0 ``FeatureExtraction`` CSV output into an Engage session.

Mapped columns (OpenFace 2.0 output format, Baltrusaitis et al. 2018):

* ``timestamp`` (s) -> ``t_ns``; ``success`` (0/1) -> ``present`` and ``face_count``;
  ``confidence`` -> ``confidence``.
* ``pose_Rx``, ``pose_Ry``, ``pose_Rz`` (radians, camera frame) -> ``pitch_deg``,
  ``yaw_deg``, ``roll_deg``; ``pose_Tx``, ``pose_Ty``, ``pose_Tz`` (mm) ->
  ``translation_mm``, and their norm -> ``distance_mm``.
* Action-unit intensities ``AUxx_r`` (0-5) / 5 onto the MediaPipe blendshapes with the same
  FACS meaning (Ekman & Friesen): AU01 -> browInnerUp; AU02 -> browOuterUpLeft/Right; AU04 ->
  browDownLeft/Right; AU12 -> mouthSmileLeft/Right; AU26 -> jawOpen; AU45 (blink) ->
  eyeBlinkLeft/Right. Other blendshapes stay NaN.

Kept aside unchanged (not guessed): ``frame``, gaze vectors and angles (no screen
calibration), 2D/3D landmarks, shape parameters, eye landmarks, other AU intensities and all
AU presence columns, and anything else. Gaze stays uncalibrated (``gaze_px`` NaN) and
``on_screen`` unknown.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from fusion.importers import ImportFormatError, write_imported_session
from sensing.records import BLENDSHAPE_NAMES, N_BLENDSHAPES, FaceFrame

AU_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU01_r": ("browInnerUp",),
    "AU02_r": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04_r": ("browDownLeft", "browDownRight"),
    "AU12_r": ("mouthSmileLeft", "mouthSmileRight"),
    "AU26_r": ("jawOpen",),
    "AU45_r": ("eyeBlinkLeft", "eyeBlinkRight"),
}
AU_INTENSITY_MAX = 5.0
REQUIRED = ("timestamp", "success", "confidence")
POSE = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")


def read_openface_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of an OpenFace CSV by their stripped names (numbers as float64)."""
    import pyarrow.csv as pcsv
    try:
        table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=","))
    except (OSError, ValueError) as error:
        raise ImportFormatError(f"{path} is not a readable CSV file: {error}") from None
    columns = {name.strip(): table.column(name).to_numpy(zero_copy_only=False)
               for name in table.column_names}
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ImportFormatError(f"{path} is not OpenFace 2.0 output: no column "
                                f"{', '.join(missing)}")
    return columns


def import_openface(path: str | os.PathLike[str], *, participant: str | None = None,
                    data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Import an OpenFace 2.0 CSV as a session; returns the session file's path."""
    source = Path(path)
    if not source.is_file():
        raise ImportFormatError(f"no file {source}")
    columns = read_openface_csv(source)
    rows = columns["timestamp"].shape[0]
    if rows == 0:
        raise ImportFormatError(f"{source} holds no frames")
    t_ns = np.round(columns["timestamp"].astype(np.float64) * 1e9).astype(np.int64)
    present = columns["success"].astype(np.float64) > 0.5
    blend = np.full((rows, N_BLENDSHAPES), np.nan, dtype=np.float32)  # [N, 52]
    index = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
    mapped = {"timestamp": "t_ns", "success": "present, face_count", "confidence": "confidence"}
    for au, shapes in AU_BLENDSHAPES.items():
        if au in columns:
            for shape in shapes:
                blend[:, index[shape]] = np.clip(columns[au] / AU_INTENSITY_MAX, 0.0, 1.0)
            mapped[au] = ", ".join(shapes)
    pose = {name: columns[name].astype(np.float64) if name in columns else np.full(rows, np.nan)
            for name in POSE}
    mapped.update({n: "translation_mm" for n in POSE[:3] if n in columns})
    mapped.update({"pose_Rx": "pitch_deg", "pose_Ry": "yaw_deg", "pose_Rz": "roll_deg"})
    translation = np.stack([pose["pose_Tx"], pose["pose_Ty"], pose["pose_Tz"]], axis=1)
    distance = np.linalg.norm(translation, axis=1)
    yaw, pitch, roll = (np.degrees(pose[n]) for n in ("pose_Ry", "pose_Rx", "pose_Rz"))
    confidence = columns["confidence"].astype(np.float64)

    def frames():
        for i in range(rows):  # one FaceFrame per CSV row is what the store's writer takes
            ok = bool(present[i])
            yield FaceFrame(
                t_ns=int(t_ns[i]), face_count=int(ok), present=ok,
                confidence=float(confidence[i]),
                blendshapes=blend[i] if ok else np.full(N_BLENDSHAPES, np.nan, np.float32),
                yaw_deg=float(yaw[i]) if ok else math.nan,
                pitch_deg=float(pitch[i]) if ok else math.nan,
                roll_deg=float(roll[i]) if ok else math.nan,
                translation_mm=tuple(float(v) for v in translation[i]) if ok
                else (math.nan,) * 3,
                distance_mm=float(distance[i]) if ok else math.nan,
            )

    unmapped = {name: values for name, values in columns.items() if name not in mapped}
    return write_imported_session(
        frames=frames(), markers=(), unmapped=unmapped,
        participant=participant or source.stem, source=source, importer="openface",
        mapped=mapped, data_dir=data_dir)
