"""benchmarks/bench_peers.py's own logic, without `fer`, TensorFlow or ../shared: reading `fer`'s
scores, the worker's JSON protocol (on a fake `fer` detector), and which detection finds a face."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest




def _module(name: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{name}")


@pytest.fixture(scope="module")
def peers() -> ModuleType:
    return _module("bench_peers")


@pytest.fixture(scope="module")
def worker() -> ModuleType:
    return _module("_fer_worker")


def _emotions(scores: list[float]) -> dict[str, float]:
    return dict(zip(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), scores))


class FakeFER:
    """detect_emotions like fer's: one face per given box (dropping boxes narrower than 2 px),
    or two found faces when no box is given."""

    def detect_emotions(self, img: object, face_rectangles: list | None = None) -> list[dict]:
        if face_rectangles is None:
            return [{"box": np.array([1, 2, 30, 30], np.int32), "emotions": _emotions([0, 0, 0, 0.9, 0, 0, 0.1])},
                    {"box": (50, 2, 30, 30), "emotions": _emotions([0.5, 0, 0, 0, 0, 0, 0.5])}]
        return [{"box": box, "emotions": _emotions([0.1, 0, 0, 0, 0, 0.8, 0.1])}
                for box in face_rectangles if box[2] >= 2]


def test_fer_label_takes_the_first_of_tied_maxima_and_minus_one_for_no_face(peers: ModuleType) -> None:
    assert peers.fer_label([0.1, 0, 0, 0.45, 0, 0, 0.45]) == 3  # happy before neutral, as top_emotion
    assert peers.is_tie([0.1, 0, 0, 0.45, 0, 0, 0.45]) and not peers.is_tie([0, 0, 0, 1, 0, 0, 0])
    assert peers.fer_label(None) == -1 and not peers.is_tie(None)
    with pytest.raises(ValueError, match="7 scores"):
        peers.fer_label([1.0, 0.0])


def test_parse_reply_raises_with_the_worker_traceback(peers: ModuleType) -> None:
    assert peers.parse_reply('{"ok": true, "n": 3}', "load")["n"] == 3
    with pytest.raises(RuntimeError, match="failed during crops:\nTraceback: boom"):
        peers.parse_reply(json.dumps({"ok": False, "error": "Traceback: boom"}), "crops")
    with pytest.raises(RuntimeError, match="stopped during photos"):
        peers.parse_reply("", "photos")


def test_match_found_squares_detections_and_keeps_iou_over_0_4(peers: ModuleType) -> None:
    truth = np.array([[0, 0, 40, 40], [100, 0, 40, 40], [300, 300, 10, 10]])
    detected = np.array([[105, 5, 30, 40], [2, 0, 40, 38]])  # the first one squares to (100, 5, 40, 40)
    from benchmarks.protocol import match_found

    assert match_found(truth, detected) == [1, 0, None]
    assert match_found(truth, np.zeros((0, 4))) == [None, None, None]
    assert peers.match_found is match_found  # bench_peers uses the shared protocol
    assert peers.fer_box([100.4, 50, 60, 80]) == [110, 60, 40, 60]  # + fer's 10-pixel margin: the box
    assert peers.fer_box([0, 0, 15, 48]) == [10, 10, 1, 28]
    assert peers.nearest(truth[:2], np.array([[101, 1, 40, 40], [0, 0, 40, 40]])) == [1, 0]


def test_worker_answers_each_request_line_and_reports_errors(worker: ModuleType, tmp_path: Path) -> None:
    files = [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    fake = worker.Worker(FakeFER(), imread=lambda path: None if path.endswith("missing.jpg") else np.zeros((48, 48, 3)))
    requests = [
        {"cmd": "load", "files": files},
        {"cmd": "crops", "source": "arrays", "box": [10, 10, 28, 28]},
        {"cmd": "crops", "source": "files", "box": [10, 10, 28, 28], "limit": 1},
        {"cmd": "boxes", "items": [{"path": files[0], "boxes": [[0, 0, 20, 20], [5, 5, 1, 1]]}]},
        {"cmd": "photos", "paths": files[:1]},
        {"cmd": "load", "files": [str(tmp_path / "missing.jpg")]},
        {"cmd": "nope"},
        {"cmd": "quit"},
        {"cmd": "load", "files": files},  # after quit: not read
    ]
    replies = io.StringIO()
    worker.serve(fake, io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), replies)
    out = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert len(out) == 8
    assert out[0]["ok"] and out[0]["n"] == 2
    assert out[1]["scores"] == [[0.1, 0, 0, 0, 0, 0.8, 0.1]] * 2 and out[1]["seconds"] >= 0
    assert len(out[1]["calls"]) == 2 and all(0 <= t <= out[1]["seconds"] for t in out[1]["calls"])
    assert len(out[2]["scores"]) == 1
    assert out[3]["scores"] == [[[0.1, 0, 0, 0, 0, 0.8, 0.1], None]]  # the dropped box reads None
    assert out[4]["faces"][0][0] == {"box": [1, 2, 30, 30], "scores": [0, 0, 0, 0.9, 0, 0, 0.1]}
    assert len(out[4]["seconds"]) == 1
    assert not out[5]["ok"] and "cannot read 1 images" in out[5]["error"]
    assert not out[6]["ok"] and "unknown command 'nope'" in out[6]["error"]
    assert out[7] == {"ok": True}


def test_each_facexpr_call_is_timed_per_crop_and_tabled_with_fers(peers: ModuleType) -> None:
    import facexpr

    tool = peers.Tool("simple", model=facexpr.load("simple", device="cpu"))
    crops = [np.full((48, 48), 100 + i, np.uint8) for i in range(3)]
    peers.time_calls(tool, crops)
    peers.time_calls(tool, crops)
    assert {name: len(times) for name, times in tool.call_ms.items()} == {peers.MODEL_CALL: 6, peers.PREDICT_CALL: 6}
    fer = peers.Tool("`fer`", call_ms={peers.FER_CALL: [1.0, 2.0, 3.0, 4.0]})
    rows = peers.latency_rows(fer, [tool])
    assert rows[2] == f"| `fer` (TFLite) | {peers.FER_CALL} | 4 | 2.50 | 3.70 |"
    assert rows[3].startswith(f"| facexpr simple | {peers.MODEL_CALL} | 6 |") and len(rows) == 5
