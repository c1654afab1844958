"""draw_instances: masks blended, boxes outlined, invalid slots skipped."""

import numpy as np
import pytest

from jax3d.vis import INSTANCE_COLOURS, draw_instances


def test_masks_and_boxes_drawn():
    img = np.zeros((10, 12, 3), np.float32)
    masks = np.zeros((2, 10, 12), bool)
    masks[0, 2:5, 3:7] = True
    masks[1, 6:9, 1:4] = True
    boxes = np.array([[3, 2, 7, 5], [1, 6, 4, 9]], np.float32)
    out = draw_instances(img, masks, boxes, valid=[True, False], alpha=0.5)
    c = INSTANCE_COLOURS[0]
    np.testing.assert_allclose(out[3, 4], 0.5 * c)  # mask interior
    np.testing.assert_allclose(out[2, 3], c)  # box corner (x0, y0)
    np.testing.assert_allclose(out[4, 6], c)  # box corner (x1 - 1, y1 - 1)
    assert out[0, 0].sum() == 0 and out[1, 3].sum() == 0  # outside the box
    assert out[7, 2].sum() == 0  # the invalid instance is not drawn
    assert img.sum() == 0  # the input is not modified


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="image"):
        draw_instances(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="masks"):
        draw_instances(np.zeros((4, 4, 3)), np.zeros((1, 3, 4), bool))
    with pytest.raises(ValueError, match="boxes"):
        draw_instances(np.zeros((4, 4, 3)), np.zeros((1, 4, 4), bool), np.zeros((2, 4)))
