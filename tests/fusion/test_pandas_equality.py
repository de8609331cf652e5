"""The benchmark's pandas reference and Engage agree exactly on the shared features."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from fusion.fuse import SessionStreams, fuse_streams
from fusion.settings import FusionSettings
from sensing.session import open_session

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fuse_speed.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("fuse_speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shared_features_equal_the_pandas_reference(data_dir) -> None:
    bench = load_benchmark()
    path = bench.build_session(data_dir, minutes=1.0, seed=3)
    settings = FusionSettings()
    with open_session(path) as session:
        streams = SessionStreams.read(session)
    dataset = fuse_streams(streams, settings=settings)
    theirs = bench.pandas_shared_features(streams, settings, len(dataset))
    names = dataset.schema.feature_names
    for name in bench.SHARED:
        column = names.index(name)
        mask = dataset.valid[:, column]
        assert mask.sum() > 200
        np.testing.assert_array_equal(dataset.states[mask, column],
                                      np.asarray(theirs[name])[mask].astype(np.float32),
                                      err_msg=name)
