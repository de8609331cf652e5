"""Importers: external face-analysis recordings turned into real Engage session files.

Each importer maps the columns it understands onto :class:`sensing.records.FaceFrame` fields
(and markers where the format has them), writes a session with
:class:`sensing.session.SessionWriter`, and keeps every column it does not map aside,
unchanged, in a Parquet file next to the session (``<session>.unmapped.parquet``) whose name
and column list are in the session's ``import`` metadata. Nothing is guessed: a column with
no documented meaning for Engage is kept, not interpreted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sensing.errors import EngageError
from sensing.records import FaceFrame, Marker
from sensing.session import SessionWriter

log = logging.getLogger(__name__)

# Consent of an imported session: the face features exist; nothing else was captured.
IMPORT_CONSENT: dict[str, bool] = {"camera": True, "markers": True}


class ImportFormatError(EngageError):
    """An external file is not in the format its importer reads."""


def write_imported_session(*, frames: Iterable[FaceFrame], markers: Iterable[Marker],
                           unmapped: dict[str, np.ndarray], participant: str, source: Path,
                           importer: str, mapped: dict[str, str],
                           data_dir: str | os.PathLike[str] | None,
                           extra_meta: dict[str, Any] | None = None) -> Path:
    """Write a session from imported rows; unmapped columns go to a Parquet side file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    consent_text = f"imported from {importer} file {source.name}; consent was handled there"
    with SessionWriter.create(data_dir, participant=participant, consent=dict(IMPORT_CONSENT),
                              consent_text=consent_text,
                              host={"importer": importer}) as writer:
        count = 0
        for frame in frames:
            writer.write_face(frame)
            count += 1
        for marker in markers:
            writer.write_marker(marker)
        side = writer.path.with_name(writer.path.name + ".unmapped.parquet")
        if unmapped:
            partial = side.with_name(side.name + ".partial")
            pq.write_table(pa.table({name: pa.array(values) for name, values
                                     in unmapped.items()}), partial)
            os.chmod(partial, 0o600)
            partial.replace(side)
        writer.set_meta("import", {
            "importer": importer, "source": str(source), "frames": count,
            "mapped_columns": mapped, "unmapped_columns": sorted(unmapped),
            "unmapped_file": side.name if unmapped else None, **(extra_meta or {}),
        })
        path = writer.path
    log.info("imported %d %s frames from %s into %s", count, importer, source, path)
    return path
