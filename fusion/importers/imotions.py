"""iMotions export (tab-separated text with ``#`` header lines) into an Engage session.

Mapped columns (iMotions 6 export of the Emotient FACET module):

* ``Timestamp`` (ms since the recording started) -> ``t_ns``; ``NoOfFaces`` ->
  ``face_count`` and ``present`` (> 0).
* ``Yaw Degrees``, ``Pitch Degrees``, ``Roll Degrees`` -> ``yaw_deg``, ``pitch_deg``,
  ``roll_deg``.
* FACET action-unit evidence (log10 odds that the AU is present) as a probability
  ``1 / (1 + 10 ** -evidence)`` onto the blendshapes with the same FACS meaning: AU1 ->
  browInnerUp; AU2 -> browOuterUpLeft/Right; AU4 -> browDownLeft/Right; AU12 ->
  mouthSmileLeft/Right; AU26 -> jawOpen; AU43 (eyes closed) -> eyeBlinkLeft/Right.
* ``StimulusName``: each change of stimulus -> a ``content_shown`` marker with the stimulus
  name as ``content_id``; non-empty ``PostMarker``, ``Annotation``, ``LiveMarker`` or
  ``MarkerText`` -> a ``note`` marker holding the column name and text (no key is stored
  from ``KeyStroke``: keys are never recorded as characters; it is kept aside).
* ``Name`` -> the participant, unless one is given.

Kept aside unchanged (not guessed): study and export facts, face rectangle, emotion channels,
other AUs, glasses/gender probabilities, eye and nose landmark positions, ``KeyStroke``,
scene columns, and anything else.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from fusion.importers import ImportFormatError, write_imported_session
from sensing.records import BLENDSHAPE_NAMES, N_BLENDSHAPES, FaceFrame, Marker

AU_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU1 Evidence": ("browInnerUp",),
    "AU2 Evidence": ("browOuterUpLeft", "browOuterUpRight"),
    "AU4 Evidence": ("browDownLeft", "browDownRight"),
    "AU12 Evidence": ("mouthSmileLeft", "mouthSmileRight"),
    "AU26 Evidence": ("jawOpen",),
    "AU43 Evidence": ("eyeBlinkLeft", "eyeBlinkRight"),
}
POSE = {"Yaw Degrees": "yaw_deg", "Pitch Degrees": "pitch_deg", "Roll Degrees": "roll_deg"}
NOTE_COLUMNS = ("PostMarker", "Annotation", "LiveMarker", "MarkerText")
REQUIRED = ("Timestamp", "NoOfFaces")


def read_imotions(path: Path) -> tuple[list[str], list[list[str]], dict[str, str]]:
    """Header names, rows (as text) and the ``#key : value`` preamble of an iMotions file."""
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as error:
        raise ImportFormatError(f"cannot read {path}: {error.strerror}") from None
    preamble: dict[str, str] = {}
    body = []
    for line in lines:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            preamble[key.strip()] = value.strip()
        elif line.strip():
            body.append(line.split("\t"))
    if not body or any(name not in body[0] for name in REQUIRED):
        raise ImportFormatError(f"{path} is not an iMotions export: no tab-separated header "
                                f"with {' and '.join(REQUIRED)}")
    header, rows = body[0], body[1:]
    rows = [row + [""] * (len(header) - len(row)) for row in rows]
    return header, rows, preamble


def _numbers(texts: list[str]) -> np.ndarray:
    return np.array([float(t) if t.strip() else np.nan for t in texts], dtype=np.float64)


def import_imotions(path: str | os.PathLike[str], *, participant: str | None = None,
                    data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Import an iMotions FACET export as a session; returns the session file's path."""
    source = Path(path)
    if not source.is_file():
        raise ImportFormatError(f"no file {source}")
    header, rows, preamble = read_imotions(source)
    if not rows:
        raise ImportFormatError(f"{source} holds no rows")
    text = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    try:
        t_ns = np.round(_numbers(text["Timestamp"]) * 1e6).astype(np.int64)
        faces = np.nan_to_num(_numbers(text["NoOfFaces"])).astype(np.int64)
    except ValueError as error:
        raise ImportFormatError(f"{source}: Timestamp/NoOfFaces are not numbers ({error})") \
            from None
    count = len(rows)
    mapped = {"Timestamp": "t_ns", "NoOfFaces": "face_count, present"}
    blend = np.full((count, N_BLENDSHAPES), np.nan, dtype=np.float32)  # [N, 52]
    index = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
    for column, shapes in AU_BLENDSHAPES.items():
        if column in text:
            probability = 1.0 / (1.0 + np.power(10.0, -_numbers(text[column])))
            for shape in shapes:
                blend[:, index[shape]] = probability
            mapped[column] = ", ".join(shapes)
    pose = {}
    for column, field_name in POSE.items():
        pose[field_name] = _numbers(text[column]) if column in text else np.full(count, np.nan)
        if column in text:
            mapped[column] = field_name

    def frames():
        for i in range(count):  # one FaceFrame per exported row, as the store's writer takes
            ok = bool(faces[i] > 0)
            yield FaceFrame(
                t_ns=int(t_ns[i]), face_count=int(faces[i]), present=ok,
                confidence=1.0 if ok else 0.0,
                blendshapes=blend[i] if ok else np.full(N_BLENDSHAPES, np.nan, np.float32),
                yaw_deg=float(pose["yaw_deg"][i]) if ok else math.nan,
                pitch_deg=float(pose["pitch_deg"][i]) if ok else math.nan,
                roll_deg=float(pose["roll_deg"][i]) if ok else math.nan,
            )

    markers: list[Marker] = []
    if "StimulusName" in text:
        mapped["StimulusName"] = "content_shown markers (content_id)"
        previous = None
        for i, name in enumerate(text["StimulusName"]):
            if name and name != previous:
                markers.append(Marker(t_ns=int(t_ns[i]), kind="content_shown",
                                      payload={"content_id": name, "source": "iMotions"}))
            previous = name
    for column in NOTE_COLUMNS:
        if column in text:
            mapped[column] = "note markers"
            markers += [Marker(t_ns=int(t_ns[i]), kind="note",
                               payload={"column": column, "text": value})
                        for i, value in enumerate(text[column]) if value.strip()]
    markers.sort(key=lambda m: m.t_ns)
    names = [v for v in text.get("Name", []) if v.strip()]
    unmapped = {name: np.array(values) for name, values in text.items() if name not in mapped}
    return write_imported_session(
        frames=frames(), markers=markers, unmapped=unmapped,
        participant=participant or (names[0] if names else source.stem), source=source,
        importer="imotions", mapped=mapped, data_dir=data_dir,
        extra_meta={"preamble": preamble})
