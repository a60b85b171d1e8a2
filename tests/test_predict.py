"""predict on face crops: every accepted input form, and every kind of bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facexpr
from facexpr.transforms import FaceTransform, to_face_uint8


@pytest.fixture
def gray48() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(48, 48), dtype=np.uint8)


# -- accepted inputs ---------------------------------------------------------------------------

def test_training_sized_grayscale_is_passed_through_exactly(gray48: np.ndarray) -> None:
    assert torch.equal(to_face_uint8(gray48)[0], torch.from_numpy(gray48))


def test_batch_of_training_sized_crops_equals_item_by_item_conversion() -> None:
    """The one-copy path for lists of 48x48 uint8 crops gives what converting each item gives."""
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(5)]
    t = FaceTransform()
    batch = t.to_uint8_batch(crops)
    assert batch.shape == (5, 1, 48, 48) and batch.dtype == torch.uint8
    assert torch.equal(batch, torch.stack([to_face_uint8(c) for c in crops]))
    before = int(crops[0][0, 0])
    crops[0][0, 0] = (before + 1) % 256  # a copy: later changes to the caller's arrays do not leak in
    assert int(batch[0, 0, 0, 0]) == before
    mixed = [*crops[:2], rng.integers(0, 256, (60, 50), dtype=np.uint8), crops[2].astype(np.float32) / 255]
    assert torch.equal(t.to_uint8_batch(mixed), torch.stack([to_face_uint8(c) for c in mixed]))


def test_path_pil_array_tensor_agree(tmp_path: Path, gray48: np.ndarray) -> None:
    path = tmp_path / "face.png"
    Image.fromarray(gray48).save(path)
    forms = [str(path), path, Image.fromarray(gray48), gray48, torch.from_numpy(gray48),
             torch.from_numpy(gray48)[None], gray48.astype(np.float32) / 255, gray48[:, :, None]]
    faces = [to_face_uint8(x) for x in forms]
    for face in faces:
        assert face.shape == (1, 48, 48) and face.dtype == torch.uint8
        assert torch.equal(face, faces[0])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "I", "F", "P", "CMYK", "1"])
def test_pil_modes(model: facexpr.FaceModel, mode: str) -> None:
    rgb = Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 50, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray((np.asarray(rgb.convert("L"), dtype=np.uint16) * 257))
        assert image.mode == "I;16"
    else:
        image = rgb.convert(mode)
    result = model.predict(image)
    assert isinstance(result, facexpr.Prediction)
    assert result.label in model.labels
    assert abs(sum(result.probabilities.values()) - 1) < 1e-5
    if mode in ("L", "I;16", "I"):  # 16-bit and 32-bit gray keep the 8-bit levels
        assert torch.equal(to_face_uint8(image), to_face_uint8(rgb.convert("L")))


def test_rgb_conversion_matches_pil_luma() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    ours = to_face_uint8(rgb)[0].int()
    pil = torch.from_numpy(np.array(Image.fromarray(rgb).convert("L"))).int()
    assert (ours - pil).abs().max() <= 1


def test_rgba_transparent_pixels_become_white() -> None:
    rgba = np.zeros((48, 48, 4), dtype=np.uint8)  # fully transparent black
    assert int(to_face_uint8(rgba).min()) == 255


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    array = np.zeros((40, 80, 3), dtype=np.uint8)
    array[:, :40] = 255  # left half white
    image = Image.fromarray(array)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    upright = image.transpose(Image.Transpose.ROTATE_270)  # what a viewer shows: 40 wide, 80 high
    ours = to_face_uint8(path)[0].int()
    expected = to_face_uint8(upright)[0].int()
    assert (ours - expected).abs().float().mean() < 4  # JPEG noise only
    assert ours[:24].float().mean() > 200 and ours[24:].float().mean() < 50  # white on top


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((30, 40), dtype=np.uint8),
        np.zeros((30, 40, 1), dtype=np.uint8),
        np.zeros((30, 40, 3), dtype=np.uint8),
        np.zeros((30, 40, 4), dtype=np.uint8),
        np.full((30, 40, 3), 0.5, dtype=np.float64),
        np.full((30, 40), 1000, dtype=np.uint16),
        np.zeros((1200, 900, 3), dtype=np.uint8),
    ],
    ids=["HxW", "HxWx1", "HxWx3", "HxWx4", "float", "uint16", "large"],
)
def test_numpy_inputs(model: facexpr.FaceModel, array: np.ndarray) -> None:
    assert model.predict(array).label in model.labels


@pytest.mark.parametrize(
    "tensor",
    [torch.rand(30, 40), torch.rand(1, 30, 40), torch.rand(3, 30, 40), torch.rand(4, 30, 40),
     torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)],
    ids=["HxW", "1xHxW", "3xHxW", "4xHxW", "uint8"],
)
def test_tensor_inputs(model: facexpr.FaceModel, tensor: torch.Tensor) -> None:
    assert isinstance(model.predict(tensor), facexpr.Prediction)


def test_batch_tensor_and_list_give_lists_in_order(model: facexpr.FaceModel, face_jpeg: Path) -> None:
    batch = torch.rand(5, 3, 60, 60)
    results = model.predict(batch, batch_size=2)
    assert isinstance(results, list) and len(results) == 5
    singles = [model.predict(batch[i]) for i in range(5)]
    for result, single in zip(results, singles):
        assert result.label == single.label
        assert result.probabilities == pytest.approx(single.probabilities, abs=1e-6)
    mixed = model.predict([face_jpeg, str(face_jpeg), np.zeros((20, 20)), torch.zeros(48, 48)])
    assert len(mixed) == 4 and mixed[0].source == str(face_jpeg)
    assert mixed[0].probabilities == pytest.approx(mixed[1].probabilities)


def test_predict_proba_and_batch_size_invariance(model: facexpr.FaceModel) -> None:
    batch = torch.randint(0, 256, (7, 1, 48, 48), dtype=torch.uint8)
    probs = model.predict_proba(batch)
    assert probs.shape == (7, 7)
    assert torch.allclose(probs.sum(1), torch.ones(7), atol=1e-5)
    assert torch.allclose(probs, model.predict_proba(batch, batch_size=3), atol=1e-6)


def test_temperature_and_tta(model: facexpr.FaceModel) -> None:
    batch = torch.randint(0, 256, (4, 1, 48, 48), dtype=torch.uint8)
    plain = model.predict_proba(batch)
    model.config.temperature = 3.0
    try:
        soft = model.predict_proba(batch)
    finally:
        model.config.temperature = 1.0
    assert (soft.max(1).values <= plain.max(1).values + 1e-6).all()
    tta = model.predict_proba(batch, tta=True)
    inputs = model.transforms().normalize(batch)
    zoomed = torch.nn.functional.interpolate(inputs[..., 3:45, 3:45], size=(48, 48), mode="bilinear")
    views = [inputs, inputs.flip(3), zoomed, zoomed.flip(3)]  # the face, its mirror, a 42-pixel centre zoomed
    with torch.inference_mode():
        expected = torch.stack([model(view).softmax(1) for view in views]).mean(0)
    assert torch.allclose(tta, expected, atol=1e-5)
    assert not torch.allclose(tta, (plain + model.predict_proba(batch.flip(3))) / 2, atol=1e-4)


def test_tta_views_are_the_face_its_mirror_and_a_central_zoom_of_both() -> None:
    ramp = torch.arange(48.0).expand(1, 1, 48, 48)  # brightness rises left to right by 1 per pixel
    views = FaceTransform().tta_views(ramp)
    assert len(views) == 4 and views[0] is ramp
    assert torch.equal(views[1], ramp.flip(3)) and torch.equal(views[3], views[2].flip(3))
    zoom = views[2][0, 0, 24]
    assert zoom[0] > 2.5 and zoom[-1] < 45.5  # the 3-pixel margins are cut on both sides...
    assert 0.86 < float((zoom[40] - zoom[8]) / 32) < 0.89  # ...and the rest stretched by 48/42
    faces = torch.rand(3, 1, 48, 48)
    flipped_views = FaceTransform().tta_views(faces.flip(3))
    for mine, theirs in zip(FaceTransform().tta_views(faces), [flipped_views[i] for i in (1, 0, 3, 2)]):
        assert torch.allclose(mine, theirs, atol=1e-5)  # a face and its mirror get the same views
    assert torch.allclose(FaceTransform().tta_views(torch.full((1, 1, 48, 48), 0.3))[2], torch.tensor(0.3))


def test_crop_pct_is_the_models_view_in_predict_and_batch(model: facexpr.FaceModel) -> None:
    batch = torch.randint(0, 256, (4, 1, 48, 48), dtype=torch.uint8)
    inputs = model.transforms().normalize(batch)
    cropped = torch.nn.functional.interpolate(inputs[..., 2:46, 2:46], size=(48, 48), mode="bilinear")
    model.config.crop_pct = 44 / 48
    try:
        assert torch.allclose(model.transforms().batch(batch), cropped, atol=1e-5)
        assert torch.allclose(model.transforms()(batch[0]), cropped[0], atol=1e-5)
        with torch.inference_mode():
            expected = model(cropped).softmax(1)
        assert torch.allclose(model.predict_proba(batch), expected, atol=1e-5)
        tta_views = model.transforms().tta_views(inputs)  # TTA keeps the whole face, whatever the crop
        assert tta_views[0] is inputs
    finally:
        model.config.crop_pct = 1.0
    assert FaceTransform().center_crop(inputs) is inputs
    with pytest.raises(ValueError, match="crop_pct must be between 0.5 and 1.0, got 1.2"):
        facexpr.models.ModelConfig("simple", crop_pct=1.2)


def test_module_level_predict_takes_a_model_or_name(model: facexpr.FaceModel, tmp_path: Path) -> None:
    folder = model.save_pretrained(tmp_path / "m")
    x = np.zeros((48, 48), dtype=np.uint8)
    assert facexpr.predict(x, model=folder)[0].probabilities == pytest.approx(
        facexpr.predict(x, model=model)[0].probabilities)


# -- facexpr.predict: one return type ------------------------------------------------------------


def _no_detector(image: np.ndarray) -> None:
    raise AssertionError("the detector ran on a face crop")


@pytest.mark.parametrize("side", [20, 48, 100, 150, 151, 400, 1000])
def test_predict_gives_an_images_faces_as_a_list_whatever_its_size(model: facexpr.FaceModel, side: int) -> None:
    """A loop over photos of mixed sizes never meets a bare Prediction (it did for sides <= 160)."""
    image = np.random.default_rng(side).integers(0, 256, (side, side + 10, 3), dtype=np.uint8)
    faces = facexpr.predict(image, model=model, detector=lambda im: ([[5, 5, 15, 15]], [0.5]))
    assert isinstance(faces, list) and len(faces) == 1 and isinstance(faces[0], facexpr.Prediction)
    if side + 10 <= 160:  # a face crop (at most 160 pixels a side): one face, the whole image
        assert faces[0].box == (0, 0, side + 10, side) and faces[0].score is None
    else:
        assert faces[0].box == (5, 5, 15, 15) and faces[0].score == 0.5
    both = facexpr.predict([image, image], model=model, detector=lambda im: ([[5, 5, 15, 15]], [0.5]))
    expected = [(faces[0].box, faces[0].score, faces[0].label)]
    assert [[(f.box, f.score, f.label) for f in fs] for fs in both] == [expected, expected]


def test_a_face_crop_is_one_face_whose_box_is_the_whole_image(model: facexpr.FaceModel, face_jpeg: Path) -> None:
    crop = np.random.default_rng(4).integers(0, 256, (60, 50), dtype=np.uint8)
    (face,) = facexpr.predict(crop, model=model, detector=_no_detector)
    single = model.predict(crop)  # the crop API is unchanged: one Prediction, no box
    assert single.box is None and face.box == (0, 0, 50, 60) and face.score is None
    assert face.probabilities == pytest.approx(single.probabilities, abs=1e-6) and face.label == single.label
    (from_file,) = facexpr.predict(face_jpeg, model=model, detector=_no_detector)
    assert from_file.source == str(face_jpeg) and from_file.box == (0, 0, *Image.open(face_jpeg).size)
    big = np.zeros((400, 300), np.uint8)
    assert [f.box for f in facexpr.predict(big, model=model, detect=False, detector=_no_detector)] == [(0, 0, 300, 400)]
    lists = facexpr.predict([crop, big], model=model, detect=False)
    assert [[f.box for f in faces] for faces in lists] == [[(0, 0, 50, 60)], [(0, 0, 300, 400)]]


def test_a_batch_tensor_is_n_face_crops(model: facexpr.FaceModel) -> None:
    batch = torch.rand(5, 3, 200, 180)  # larger than a crop, yet a batch tensor holds face crops
    results = facexpr.predict(batch, model=model, detector=_no_detector, batch_size=2)
    assert len(results) == 5 and all(len(faces) == 1 for faces in results)
    assert {faces[0].box for faces in results} == {(0, 0, 180, 200)}
    for faces, single in zip(results, model.predict(batch)):
        assert faces[0].probabilities == pytest.approx(single.probabilities, abs=1e-6)
    searched = facexpr.predict(batch[:2], model=model, detect=True, detector=lambda im: ([[1, 2, 30, 40]], [0.8]))
    assert [[f.box for f in faces] for faces in searched] == [[(1, 2, 30, 40)]] * 2


def test_predict_names_a_bad_item_of_a_list_by_index(model: facexpr.FaceModel, tmp_path: Path) -> None:
    good = np.zeros((48, 48), dtype=np.uint8)
    with pytest.raises(facexpr.InvalidImageError, match=r"item 1: .*nope.jpg"):
        facexpr.predict([good, tmp_path / "nope.jpg"], model=model)
    with pytest.raises(facexpr.InvalidImageError, match=r"^Image file .*nope.jpg' does not exist"):
        facexpr.predict(tmp_path / "nope.jpg", model=model)  # a single image: no index
    with pytest.raises(facexpr.InvalidImageError, match="empty list"):
        facexpr.predict([], model=model)


def test_predict_restores_training_mode(model: facexpr.FaceModel) -> None:
    model.train()
    model.predict(torch.zeros(48, 48))
    assert model.training
    model.eval()


def test_transform_repr_and_batch() -> None:
    t = FaceTransform()
    assert "size=48" in repr(t)
    assert t.batch(torch.zeros(0, 1, 48, 48)).shape == (0, 1, 48, 48)


# -- bad inputs --------------------------------------------------------------------------------

def _truncated_jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.jpg"
    buffer = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buffer)
    path.write_bytes(buffer.read_bytes()[:600])
    return path


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda p: p / "missing.jpg", facexpr.ImageNotFoundError, "does not exist"),
        (lambda p: p, facexpr.ImageNotFoundError, "is a directory"),
        (lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt", facexpr.InvalidImageError, "not an image"),
        (lambda p: (p / "zero.jpg").write_bytes(b"") or p / "zero.jpg", facexpr.InvalidImageError, "empty"),
        (_truncated_jpeg, facexpr.InvalidImageError, "truncated or corrupt"),
    ],
    ids=["missing", "directory", "text", "zero-byte", "truncated"],
)
def test_bad_files(model: facexpr.FaceModel, tmp_path: Path, make, error, pattern) -> None:
    path = make(tmp_path)
    with pytest.raises(error, match=pattern) as info:
        model.predict(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_decompression_bomb(model: facexpr.FaceModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (300, 300)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(facexpr.InvalidImageError, match="too large") as info:
        model.predict(path)
    assert "big.png" in str(info.value)


@pytest.mark.parametrize(
    "x, pattern",
    [
        (np.zeros((0, 10), dtype=np.uint8), "empty"),
        (np.zeros((10, 10, 5), dtype=np.uint8), "HxWx3"),
        (np.zeros(10, dtype=np.uint8), "HxWx3"),
        (torch.zeros(2, 2, 1, 10, 10), "NxCxHxW"),
        (np.full((10, 10), np.nan, dtype=np.float32), "NaN or infinite"),
        (np.full((10, 10), np.inf, dtype=np.float32), "NaN or infinite"),
        (np.full((10, 10), 200.0, dtype=np.float32), r"\[0, 1\]"),
        (np.full((10, 10), -3, dtype=np.int64), r"\[0, 255\]"),
        (np.zeros((10, 10), dtype=bool), "uint8, uint16 or float"),
        (np.full((10, 10), None, dtype=object), r"numpy array \(shape \(10, 10\), dtype object\): expected uint8, "
                                                 r"uint16 or float pixels, got dtype object"),
        (np.full((10, 10, 3), "a"), "expected uint8, uint16 or float pixels, got dtype <U1"),
        (np.full((10, 10), 300, dtype=np.uint32), r"\[0, 255\]"),
        ({"not": "an image"}, "(?i)expected a path"),
        ([], "empty list"),
    ],
    ids=["empty", "5-channels", "1d", "5d", "nan", "inf", "float-range", "negative", "bool", "object", "str",
         "uint32-range", "dict", "empty-list"],
)
def test_bad_arrays(model: facexpr.FaceModel, x: object, pattern: str) -> None:
    with pytest.raises(facexpr.InvalidImageError, match=pattern):
        model.predict(x)
    with pytest.raises(facexpr.InvalidImageError, match=pattern):
        facexpr.predict(x, model=model)


def test_wide_integer_arrays_in_range_are_8_bit_levels(model: facexpr.FaceModel, gray48: np.ndarray) -> None:
    for dtype in (np.uint32, np.uint64, np.int16, np.int64):
        assert torch.equal(to_face_uint8(gray48.astype(dtype)), to_face_uint8(gray48)), dtype
    big_endian = (gray48.astype(np.uint16) * 257).astype(">u2")  # 16-bit, as some TIFF readers give it
    assert torch.equal(to_face_uint8(big_endian), to_face_uint8(gray48))


def test_read_only_arrays_give_no_warning(gray48: np.ndarray) -> None:
    frozen = gray48.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(to_face_uint8(frozen), to_face_uint8(gray48))
        assert torch.equal(to_face_uint8(np.dstack([frozen] * 3)), to_face_uint8(gray48))


@pytest.mark.parametrize("url", ["https://example.com/faces/smile.jpg", "http://example.com/a.png",
                                 "file:///tmp/face.png", "s3://bucket/face.jpg"])
def test_a_url_says_it_is_not_downloaded(model: facexpr.FaceModel, url: str) -> None:
    for run in (model.predict, lambda x: facexpr.predict(x, model=model)):
        with pytest.raises(facexpr.InvalidImageError) as info:
            run(url)
        message = str(info.value)
        assert url in message  # the URL as given, not mangled into a path ('https:/example.com...')
        assert "URL" in message and "Download" in message and "does not exist" not in message


def test_bad_item_in_list_names_its_index(model: facexpr.FaceModel, tmp_path: Path) -> None:
    good = np.zeros((48, 48), dtype=np.uint8)
    with pytest.raises(facexpr.InvalidImageError, match=r"item 2: .*nope.jpg"):
        model.predict([good, good, tmp_path / "nope.jpg"])
    with pytest.raises(facexpr.InvalidImageError, match=r"item 1: numpy array"):
        model.predict([good, np.full((4, 4), np.nan)])
