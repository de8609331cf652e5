"""Nothing but 127.0.0.1: during a recording with every stream on, every socket the process
binds or connects (seen by a Python audit hook, and by the OS through psutil) is loopback or
a local (Unix) socket such as the X server's."""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.request

import psutil
import pytest

from sensing.face import FaceAnalyzer, FacePipeline
from sensing.frames import VideoFileSource
from sensing.recorder import Recorder, RecorderOptions
from sensing.session import SessionWriter
from tests.sensing.display import display_env, xdotool, xvfb_display  # noqa: F401
from tests.sensing.waiting import wait_until

_seen: list[tuple[str, object]] = []
_listening = [False]


def _audit(event: str, args: tuple) -> None:
    if _listening[0] and event in ("socket.bind", "socket.connect", "socket.sendto"):
        sock, address = args[0], args[1] if event != "socket.sendto" else args[2]
        _seen.append((event, (sock.family, address)))


sys.addaudithook(_audit)  # hooks cannot be removed; it records only while _listening is set


def is_local(family: int, address: object) -> bool:
    if family == socket.AF_UNIX:
        return True
    host = address[0] if isinstance(address, tuple) else address
    return host in ("127.0.0.1", "::1", "localhost")


@pytest.mark.display
@pytest.mark.usefixtures("display_env")
def test_a_recording_opens_no_socket_beyond_loopback(data_dir, media, face_model):
    _seen.clear()
    _listening[0] = True
    try:
        writer = SessionWriter.create(data_dir, participant="p", consent={
            "camera": True, "keyboard": True, "mouse": True, "scroll": True, "markers": True})
        source = VideoFileSource(media("single_face.mp4"), clock=writer.clock, realtime=True)
        recorder = Recorder(
            writer, frame_source=source,
            make_face_pipeline=lambda on_face: FacePipeline(FaceAnalyzer(face_model), on_face,
                                                            queue_size=30),
            options=RecorderOptions(marker_port=0))
        recorder.start()
        host, port = recorder.endpoint.address
        request = urllib.request.Request(
            f"http://{host}:{port}/markers", data=json.dumps({"kind": "task_start"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        xdotool(os.environ["DISPLAY"], "type", "ab")
        wait_until(lambda: recorder.status()["streams"]["input"]["received"] >= 4,
                   what="typed keys")
        wait_until(lambda: recorder.status()["streams"]["face"]["received"] >= 5,
                   what="face rows")
        open_inet = psutil.Process().net_connections(kind="inet")
        recorder.stop()
        writer.close()
    finally:
        _listening[0] = False

    assert any(event == "socket.bind" for event, _ in _seen), "the audit hook saw nothing"
    remote = [(event, detail) for event, detail in _seen if not is_local(*detail)]
    assert remote == []
    assert all(c.laddr.ip in ("127.0.0.1", "::1") for c in open_inet), open_inet
    assert all(not c.raddr or c.raddr.ip in ("127.0.0.1", "::1") for c in open_inet), open_inet
