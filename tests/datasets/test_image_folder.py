"""ImageFolder: decoding and mode conversion, GIRAFFE's resize / crop / flip, deterministic
order, bad files skipped with a warning, prefetching and device placement."""

import warnings

import jax
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from PIL import Image

from jax3d.datasets import ImageFolder, ImageSkippedWarning


def _gradient_rgb(h, w, seed=0):
    """A smooth, asymmetric RGB image (JPEG keeps it close)."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 1.0, 2)
    img = np.stack([255 * x / (w - 1) * a, 255 * y / (h - 1) * b, 128 + 0 * x], axis=-1)
    return img.astype(np.uint8)


@pytest.fixture
def folder(tmp_path):
    """8 good images (JPEG, PNG RGBA, palette, LA, 16-bit grey) and 4 bad files."""
    for i in range(4):
        Image.fromarray(_gradient_rgb(20 + 2 * i, 30, seed=i)).save(tmp_path / f"good_{i}.jpg")
    rgba = np.dstack([_gradient_rgb(24, 24), np.full((24, 24), 100, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    palette = Image.new("P", (16, 16))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, 1 blue
    palette.paste(1, (8, 0, 16, 16))  # right half blue
    palette.save(tmp_path / "palette.png")
    Image.fromarray(np.dstack([np.full((16, 16), 51, np.uint8)] * 2), "LA").save(
        tmp_path / "grey_alpha.png"
    )
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(tmp_path / "grey16.png")
    # Bad: truncated JPEG, zero-byte file, text named .jpg, 16-bit in a float "F" TIFF.
    data = (tmp_path / "good_0.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image")
    Image.fromarray(np.ones((8, 8), np.float32), "F").save(tmp_path / "float.tif")
    return tmp_path


BAD = {"truncated.jpg", "empty.jpg", "notes.jpg", "float.tif"}


def _names(ds, batch):
    return [ds.files[i].rsplit("/", 1)[-1] for i in batch["index"]]


def test_modes_convert_to_rgb(folder):
    ds = ImageFolder(str(folder / "*.png"), image_size=16)
    by_name = {f.rsplit("/", 1)[-1]: i for i, f in enumerate(ds.files)}
    palette = ds.load(by_name["palette.png"])
    assert palette.shape == (16, 16, 3) and palette.dtype == np.float32
    np.testing.assert_allclose(palette[:, :7], np.broadcast_to([1.0, 0.0, 0.0], (16, 7, 3)))
    np.testing.assert_allclose(palette[:, 9:], np.broadcast_to([0.0, 0.0, 1.0], (16, 7, 3)))
    np.testing.assert_allclose(ds.load(by_name["grey_alpha.png"]), 0.2, atol=1e-6)  # 51 / 255
    np.testing.assert_allclose(ds.load(by_name["grey16.png"]), 1.0)  # 65535 / 257 = 255
    rgba = ds.load(by_name["rgba.png"])  # alpha dropped, colours kept
    expected = np.asarray(Image.fromarray(_gradient_rgb(24, 24)).resize((16, 16), Image.BILINEAR))
    np.testing.assert_allclose(rgba, expected / 255.0, atol=1e-6)


def test_bad_files_are_skipped_with_a_warning_once(folder):
    ds = ImageFolder(str(folder / "*.*"), image_size=8)
    assert len(ds) == 12
    with pytest.warns(ImageSkippedWarning) as record:
        batches = list(ds.batches(3, seed=0, epoch=0))
    warned = {str(w.message).split(": ")[0].split("skipping ")[1].rsplit("/", 1)[-1]
              for w in record}
    assert warned == BAD
    assert {p.rsplit("/", 1)[-1] for p in ds.bad_files} == BAD
    assert "exceed" not in str(ds.bad_files) and "mode 'F'" in str(ds.bad_files)
    # 8 good files -> 2 full batches of 3 (drop_last), none of them bad.
    assert len(batches) == 2
    assert all(b["image"].shape == (3, 8, 8, 3) for b in batches)
    assert not BAD & {n for b in batches for n in _names(ds, b)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known bad files are skipped silently afterwards
        assert len(list(ds.batches(3, seed=0, epoch=1))) == 2
    with pytest.raises(ValueError, match="notes.jpg"):
        ImageFolder(str(folder / "notes.jpg"), image_size=8).load(0)
    with pytest.raises(IndexError, match="out of range"):
        ds.load(12)


def test_unusable_folders_raise(folder):
    with pytest.raises(ValueError, match="matches no files"):
        ImageFolder(str(folder / "*.webp"), image_size=8)
    only_bad = ImageFolder(str(folder / "[ent]*.jpg"), image_size=8)  # empty, notes, truncated
    assert len(only_bad) == 3
    with pytest.warns(ImageSkippedWarning), pytest.raises(ValueError, match="0 of 3 files"):
        list(only_bad.batches(1, seed=0, epoch=0))
    with pytest.raises(ValueError, match="fewer than batch_size=5"):
        list(ImageFolder(str(folder / "good_*.jpg"), image_size=8).batches(5, seed=0, epoch=0))
    with pytest.raises(ValueError, match="exclusive"):
        ImageFolder(str(folder / "*.jpg"), image_size=8, random_crop=True, keep_aspect=True)


def test_pixel_limit_is_per_dataset(folder):
    ds = ImageFolder(str(folder / "good_*.jpg"), image_size=8, max_pixels=20 * 30)
    # good_0 is 30 x 20 = 600 px (allowed); the others are taller.
    with pytest.warns(ImageSkippedWarning, match="exceed max_pixels=600"):
        with pytest.raises(ValueError, match="1 of 4"):
            list(ds.batches(2, seed=0, epoch=0))
    assert Image.MAX_IMAGE_PIXELS != 600  # Pillow's global limit untouched


def test_order_is_deterministic_per_seed_and_epoch(folder):
    ds = ImageFolder(str(folder / "good_*.jpg"), image_size=8, random_crop=True, hflip=True)
    first = list(ds.batches(1, seed=3, epoch=0))
    again = list(ds.batches(1, seed=3, epoch=0))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["image"], b["image"])
    orders = {tuple(ds.epoch_order(seed=3, epoch=e)) for e in range(6)}
    assert len(orders) > 1  # epochs shuffle differently
    assert sorted(ds.epoch_order(seed=3, epoch=0)) == [0, 1, 2, 3]
    assert [int(b["index"][0]) for b in first] == list(ds.epoch_order(seed=3, epoch=0))
    with pytest.raises(ValueError, match="non-negative"):
        ds.epoch_order(seed=-1, epoch=0)


def test_resize_modes_follow_giraffe(folder):
    src = Image.open(folder / "good_1.jpg").convert("RGB")  # 30 x 22 (w x h)
    # Default: straight resize to (H, W) = (8, 12), aspect ignored.
    squash = ImageFolder(str(folder / "good_1.jpg"), image_size=(8, 12)).load(0)
    np.testing.assert_allclose(
        squash, np.asarray(src.resize((12, 8), Image.BILINEAR)) / 255.0, atol=1e-6
    )
    # random_crop: shorter side (22) to 11 -> 15 x 11, then an 11 x 11 window at a random x.
    resized = np.asarray(src.resize((15, 11), Image.BILINEAR)) / 255.0
    crop = ImageFolder(str(folder / "good_1.jpg"), image_size=11, random_crop=True)
    lefts = set()
    for epoch in range(8):
        img = crop.load(0, seed=0, epoch=epoch)
        matches = [x0 for x0 in range(5) if np.allclose(img, resized[:, x0:x0 + 11], atol=1e-6)]
        assert len(matches) == 1
        lefts.add(matches[0])
    assert len(lefts) > 1
    # keep_aspect: the central window; value_range maps to [-1, 1].
    centre = ImageFolder(
        str(folder / "good_1.jpg"), image_size=11, keep_aspect=True, value_range=(-1.0, 1.0)
    ).load(0)
    np.testing.assert_allclose(centre, resized[:, 2:13] * 2.0 - 1.0, atol=1e-5)
    # center_crop_size: the central 20 x 20 square first, then resized.
    cc = ImageFolder(str(folder / "good_1.jpg"), image_size=10, center_crop_size=20).load(0)
    square = src.crop((5, 1, 25, 21)).resize((10, 10), Image.BILINEAR)
    np.testing.assert_allclose(cc, np.asarray(square) / 255.0, atol=1e-6)


def test_hflip_mirrors_half_of_the_draws(folder):
    plain = ImageFolder(str(folder / "good_2.jpg"), image_size=8)
    flip = ImageFolder(str(folder / "good_2.jpg"), image_size=8, hflip=True)
    base = plain.load(0)
    flipped = [not np.allclose(flip.load(0, seed=1, epoch=e), base) for e in range(16)]
    for e, was_flipped in enumerate(flipped):
        expected = base[:, ::-1] if was_flipped else base
        np.testing.assert_allclose(flip.load(0, seed=1, epoch=e), expected, atol=1e-6)
    assert 2 <= sum(flipped) <= 14


def test_prefetch_and_workers_match_the_synchronous_batches(folder):
    pattern = str(folder / "*.*")
    kw = dict(image_size=8, random_crop=True, hflip=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageSkippedWarning)
        sync = list(ImageFolder(pattern, **kw).batches(2, seed=5, epoch=2))
        threaded = ImageFolder(pattern, num_workers=2, **kw)
        with threaded.iterate(2, seed=5, epoch=2, prefetch_size=1) as it:
            pre = list(it)
        assert len(sync) == len(pre) == 4
        for a, b in zip(sync, pre):
            np.testing.assert_array_equal(a["index"], b["index"])
            np.testing.assert_array_equal(a["image"], b["image"])
        # Placed on devices with a sharding along the batch axis (1 CPU device here).
        mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        sharding = NamedSharding(mesh, PartitionSpec("data"))
        with threaded.iterate(2, seed=5, epoch=2, sharding=sharding) as it:
            placed = next(it)
    assert isinstance(placed["image"], jax.Array) and placed["image"].sharding == sharding
    np.testing.assert_array_equal(np.asarray(placed["image"]), sync[0]["image"])
