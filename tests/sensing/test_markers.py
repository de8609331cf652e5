"""Markers: payload rules per kind, and the 127.0.0.1 endpoint's HTTP and line protocols."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from sensing.errors import EngageError
from sensing.markers import (
    MAX_PAYLOAD_BYTES,
    MarkerEndpoint,
    MarkerError,
    MarkerIntake,
    parse_marker_line,
    parse_marker_object,
    validate_payload,
)

GOOD = [
    ("content_shown", {"content_id": "a-1", "region": {"x": 0, "y": 80, "w": 640, "h": 480}}),
    ("content_hidden", {"content_id": "a-1"}),
    ("query_submitted", {"text_length": 42, "is_rephrase": True, "is_followup": False}),
    ("response_displayed", {"response_id": "r9", "length": 1200, "latency_ms": 850.5}),
    ("rating", {"value": 4, "scale": [1, 5], "content_id": "a-1"}),
    ("task_start", {"task_id": "t1"}),
    ("task_end", {}),
    ("pause", {"source": "gui"}),
    ("resume", {}),
    ("note", {"text": "participant left the room"}),
]

BAD = [
    ("content_shown", {}, "needs content_id"),
    ("content_shown", {"content_id": "a", "region": {"x": 0, "y": 0, "w": -1, "h": 5}},
     "must not be negative"),
    ("query_submitted", {"text_length": 3, "is_rephrase": False, "is_followup": False,
                         "text": "how do I"}, "never the text"),
    ("query_submitted", {"text_length": -1, "is_rephrase": False, "is_followup": False},
     "integer >= 0"),
    ("query_submitted", {"text_length": 3, "is_rephrase": "no", "is_followup": False},
     "true or false"),
    ("rating", {"value": 9, "scale": [1, 5]}, "outside its scale"),
    ("rating", {"value": float("nan")}, "finite"),
    ("task_start", {"task_id": ""}, "1 to 200 characters"),
    ("task_start", {"nested": {"a": 1}}, "string, number, boolean or null"),
    ("note", {"text": "x" * 300}, "at most 280"),
    ("launch", {}, "unknown marker kind"),
    ("task_start", {"blob": "x" * (MAX_PAYLOAD_BYTES + 10)}, "markers hold at most"),
]


@pytest.mark.parametrize(("kind", "payload"), GOOD)
def test_valid_markers_of_every_kind_are_accepted_unchanged(kind, payload):
    assert validate_payload(kind, payload) == payload


@pytest.mark.parametrize(("kind", "payload", "reason"), BAD)
def test_malformed_markers_are_refused_with_a_reason(kind, payload, reason):
    with pytest.raises(MarkerError, match=reason):
        validate_payload(kind, payload)


def test_flat_and_nested_marker_objects_mean_the_same():
    flat = parse_marker_object({"kind": "rating", "value": 3})
    nested = parse_marker_object({"kind": "rating", "payload": {"value": 3}})
    assert flat == nested == ("rating", {"value": 3})


def test_senders_cannot_choose_the_timestamp():
    with pytest.raises(MarkerError, match="stamped on arrival"):
        parse_marker_object({"kind": "task_start", "t_ns": 5})


def test_a_line_is_a_kind_with_an_optional_json_payload():
    assert parse_marker_line('rating {"value": 2}\n') == ("rating", {"value": 2})
    assert parse_marker_line("task_end") == ("task_end", {})
    with pytest.raises(MarkerError, match="not JSON"):
        parse_marker_line("rating {value: 2}")


def test_the_intake_counts_accepted_rejected_and_dropped():
    stored = []
    intake = MarkerIntake(lambda kind, payload: stored.append(kind) or len(stored) < 2)
    assert intake.offer_line("task_start") is None
    assert "full" in intake.offer_line("task_end")
    assert "unknown" in intake.offer_line("bogus")
    stats = intake.stats()
    assert (stats["received"], stats["accepted"], stats["dropped"], stats["rejected"]) == (
        3, 1, 1, 1)


@pytest.fixture
def endpoint():
    stored: list[tuple[str, dict]] = []
    intake = MarkerIntake(lambda kind, payload: stored.append((kind, payload)) or True)
    server = MarkerEndpoint(intake, port=0)
    server.start()
    yield server, intake, stored
    server.stop()


def post(port: int, body: bytes, *, content_type: str = "application/json",
         host: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": content_type}
    if host is not None:
        headers["Host"] = host
    request = urllib.request.Request(f"http://127.0.0.1:{port}/markers", data=body,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_endpoint_listens_on_the_loopback_address_only(endpoint):
    server, _, _ = endpoint
    assert server.address[0] == "127.0.0.1"


def test_the_endpoint_refuses_to_bind_beyond_loopback():
    with pytest.raises(EngageError, match="loopback"):
        MarkerEndpoint(MarkerIntake(lambda k, p: True), host="0.0.0.0")


def test_http_post_of_a_list_stores_the_good_markers_and_names_the_bad(endpoint):
    server, intake, stored = endpoint
    body = json.dumps([{"kind": "task_start", "task_id": "t"},
                       {"kind": "rating", "value": 7, "scale": [1, 5]},
                       {"kind": "content_shown", "content_id": "c"}]).encode()
    status, answer = post(server.address[1], body)
    assert status == 400
    assert answer["accepted"] == 2
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert [kind for kind, _ in stored] == ["task_start", "content_shown"]
    assert intake.stats()["rejected"] == 1


def test_http_post_without_the_json_content_type_is_refused(endpoint):
    server, intake, stored = endpoint
    status, _ = post(server.address[1], b'{"kind": "task_start"}', content_type="text/plain")
    assert status == 415
    assert stored == []
    assert intake.stats()["rejected"] == 1


def test_http_post_with_a_foreign_host_header_is_refused(endpoint):
    server, _, stored = endpoint
    status, _ = post(server.address[1], b'{"kind": "task_start"}', host="evil.example:80")
    assert status == 403
    assert stored == []


def test_http_health_answers_ok(endpoint):
    server, _, _ = endpoint
    with urllib.request.urlopen(f"http://127.0.0.1:{server.address[1]}/health",
                                timeout=10) as response:
        assert json.loads(response.read()) == {"ok": True}


def test_the_line_protocol_answers_each_line_and_survives_bad_ones(endpoint):
    server, intake, stored = endpoint
    with socket.create_connection(server.address, timeout=10) as connection:
        connection.sendall(b'task_start {"task_id": "t1"}\n\xff\xfe\nnot-a-kind\n'
                           b'{"kind": "rating", "value": 5}\n')
        connection.shutdown(socket.SHUT_WR)
        replies = connection.makefile("rb").read().decode().splitlines()
    assert replies[0] == "ok"
    assert replies[1].startswith("error: line is not UTF-8")
    assert replies[2].startswith("error: unknown marker kind")
    assert replies[3] == "ok"
    assert [kind for kind, _ in stored] == ["task_start", "rating"]
    assert intake.stats()["rejected"] == 2


def test_stopping_the_endpoint_closes_open_line_connections(endpoint):
    server, _, _ = endpoint
    connection = socket.create_connection(server.address, timeout=10)
    connection.sendall(b"task_start\n")
    assert connection.recv(16) == b"ok\n"
    server.stop()
    assert connection.recv(16) == b""
    connection.close()
