"""OpenFace and iMotions recordings become real session files that fusion reads."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from fusion.fuse import fuse_session
from fusion.importers import ImportFormatError
from fusion.importers.imotions import import_imotions
from fusion.importers.openface import import_openface
from fusion.schema import DEFAULT_SCHEMA
from fusion.settings import FusionSettings
from sensing.records import BLENDSHAPE_NAMES
from sensing.session import open_session


def test_openface_rows_become_face_frames_with_pose_in_degrees(media, data_dir) -> None:
    path = import_openface(media("OpenFace_Test.csv"), participant="of1", data_dir=data_dir)
    with open_session(path) as session:
        face = session.face()
        assert session.participant == "of1"
        assert session.meta["import"]["mapped_columns"]["pose_Ry"] == "yaw_deg"
    assert face["t_ns"].size == 100 and face["present"].all()
    assert face["t_ns"][1] == 1_000_000  # timestamp 0.001 s
    assert face["yaw_deg"][0] == pytest.approx(math.degrees(-0.063753), rel=1e-5)
    assert face["distance_mm"][0] == pytest.approx(math.hypot(16.6573, 43.4571, 597.876),
                                                   rel=1e-5)
    smile = face["blendshapes"][:, BLENDSHAPE_NAMES.index("mouthSmileLeft")]
    assert np.all((smile >= 0) & (smile <= 1))


def test_openface_columns_it_does_not_map_are_kept_aside(media, data_dir) -> None:
    path = import_openface(media("OpenFace_Test.csv"), data_dir=data_dir)
    with open_session(path) as session:
        info = session.meta["import"]
    side = pq.read_table(path.with_name(info["unmapped_file"]))
    assert "x_0" in side.column_names and "AU12_c" in side.column_names
    assert "timestamp" not in side.column_names and side.num_rows == 100


def test_an_imported_openface_session_fuses_with_one_stream_allowed(media, data_dir) -> None:
    path = import_openface(media("OpenFace_Test.csv"), data_dir=data_dir)
    dataset = fuse_session(path, settings=FusionSettings(min_streams=1, step_s=0.01))
    dataset.validate()
    assert dataset.valid[:, DEFAULT_SCHEMA.feature_index("head_yaw_mean_deg")].all()
    assert not dataset.valid[:, DEFAULT_SCHEMA.feature_index("key_rate_hz")].any()


def test_imotions_rows_and_stimuli_become_frames_and_content_markers(media, data_dir) -> None:
    path = import_imotions(media("iMotions_Test_v6.txt"), data_dir=data_dir)
    with open_session(path) as session:
        face = session.face()
        markers = session.markers()
        assert session.participant == "separate_rotation"
        assert session.meta["import"]["preamble"]["Study"] == "RotationTest"
    assert face["t_ns"].size == 519 and face["t_ns"][0] == 35_000_000
    assert [m.payload["content_id"] for m in markers if m.kind == "content_shown"] == ["gopro"]
    assert face["present"].sum() == 304


def test_an_imported_imotions_session_fuses_into_episodes(media, data_dir) -> None:
    dataset = fuse_session(import_imotions(media("iMotions_Test_v6.txt"), data_dir=data_dir))
    dataset.validate()
    assert dataset.episode[-1] == 1
    assert dataset.valid[:, DEFAULT_SCHEMA.feature_index("content_shown")].all()


def test_a_file_of_another_format_is_refused(media, data_dir) -> None:
    with pytest.raises(ImportFormatError, match="not an iMotions export"):
        import_imotions(media("OpenFace_Test.csv"), data_dir=data_dir)
    with pytest.raises(ImportFormatError, match="OpenFace"):
        import_openface(media("iMotions_Test_v6.txt"), data_dir=data_dir)
