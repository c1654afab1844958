"""save_image / save_gif / to_uint8: files written and read back exactly."""

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jax3d.vis import save_gif, save_image, to_uint8


def to_uint8_naive(img):
    out = np.zeros(img.shape, np.uint8)
    for idx in np.ndindex(img.shape):
        out[idx] = int(np.floor(255 * min(max(float(img[idx]), 0.0), 1.0) + 0.5))
    return out


def test_to_uint8_matches_naive_and_clips():
    rng = np.random.default_rng(0)
    img = rng.uniform(-0.2, 1.2, size=(5, 7, 3)).astype(np.float32)
    img[0, 0] = [0.5 / 255, 1.5 / 255, 254.5 / 255]
    np.testing.assert_array_equal(to_uint8(img), to_uint8_naive(img))
    assert to_uint8(np.ones((2, 2))).shape == (2, 2, 1)
    u8 = rng.integers(0, 256, size=(3, 3, 4), dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(u8), u8)


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_save_image_roundtrip(tmp_path, channels):
    rng = np.random.default_rng(channels or 0)
    shape = (6, 9) if channels is None else (6, 9, channels)
    img = rng.uniform(size=shape).astype(np.float32)
    path = save_image(tmp_path / "sub" / "img.png", jnp.asarray(img))
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = np.asarray(Image.open(path))
    expected = to_uint8_naive(img)
    np.testing.assert_array_equal(
        back, expected[..., 0] if expected.ndim == 3 and channels == 1 else expected
    )


def test_save_image_invalid(tmp_path):
    with pytest.raises(ValueError, match="img"):
        save_image(tmp_path / "a.png", np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="img"):
        save_image(tmp_path / "a.png", np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="finite"):
        save_image(tmp_path / "a.png", np.full((4, 4, 3), np.nan))
    with pytest.raises(TypeError, match="img"):
        save_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.int64))
    assert not (tmp_path / "a.png").exists()


def test_save_gif_frames_size_and_duration(tmp_path):
    frames = np.stack([np.full((8, 10, 3), k / 4.0, np.float32) for k in range(5)])
    path = save_gif(tmp_path / "anim.gif", frames, fps=20)
    with Image.open(path) as gif:
        assert gif.size == (10, 8) and gif.n_frames == 5
        assert gif.info["duration"] == 50
        values = []
        for k in range(gif.n_frames):
            gif.seek(k)
            values.append(np.asarray(gif.convert("RGB"))[0, 0, 0])
    np.testing.assert_allclose(values, [0, 64, 128, 191, 255], atol=2)


def test_save_gif_rgba_over_white_and_list_input(tmp_path):
    frame = np.zeros((4, 4, 4), np.float32)  # transparent black -> white
    frame[:2, :, 3] = 1.0  # top half opaque black
    path = save_gif(tmp_path / "a.gif", [frame, frame], fps=5)
    with Image.open(path) as gif:
        rgb = np.asarray(gif.convert("RGB"))
    assert np.all(rgb[:2] == 0) and np.all(rgb[2:] == 255)


def test_save_gif_invalid(tmp_path):
    good = np.zeros((3, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="fps"):
        save_gif(tmp_path / "a.gif", good, fps=0)
    with pytest.raises(ValueError, match="frames"):
        save_gif(tmp_path / "a.gif", [])
    with pytest.raises(ValueError, match="same shape"):
        save_gif(tmp_path / "a.gif", [good[0], good[0, :2]])
    with pytest.raises(ValueError, match=r"frames\[1\]"):
        save_gif(tmp_path / "a.gif", [good[0], np.full((4, 4, 3), np.inf)])
