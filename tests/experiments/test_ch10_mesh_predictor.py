"""experiments/ch10_mesh_predictor.py: its evaluation, baselines and outputs (fast, on
geometry-only samples: no renderer, no model compile), and the whole --quick run (slow)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jax3d.datasets import ShapeRenderConfig, ShapeRenders
from jax3d.datasets.shape_renders import collate
from jax3d.io import load_obj
from jax3d.models.mesh_rcnn import MeshRCNNOutput
from jax3d.train import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch10():
    spec = importlib.util.spec_from_file_location(
        "ch10_mesh_predictor", ROOT / "experiments" / "ch10_mesh_predictor.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch10_mesh_predictor"] = module
    spec.loader.exec_module(module)
    return module


class _Geometry:
    """`ShapeRenders` samples without rendering (grey images): the evaluation never looks at
    the pixels, and the renderer's compile would dominate a fast test."""

    def __init__(self, config: ShapeRenderConfig):
        self.data = ShapeRenders(config)

    def __len__(self):
        return len(self.data)

    def get_batch(self, indices):
        b = collate([self.data.geometry(int(i)) for i in indices])
        s = self.data.config.image_size
        b["images"] = np.full((len(b["category"]), s, s, 3), 0.5, np.float32)
        return b


def test_train_indices_are_epoch_permutations(ch10):
    batches = np.concatenate([ch10.train_indices(s, 3, 10, seed=1) for s in range(10)])
    for epoch in range(3):  # 30 draws = 3 epochs, each a permutation of the 10 samples
        assert sorted(batches[10 * epoch : 10 * epoch + 10]) == list(range(10))
    assert not np.array_equal(batches[:10], batches[10:20])  # reshuffled every epoch
    # a pure function of the step: the exact batch again after a resume
    np.testing.assert_array_equal(ch10.train_indices(7, 3, 10, seed=1), batches[21:24])


def _quick_data(ch10, splits):
    st = ch10.settings_from_args(ch10._parse(["--quick"]))
    config = st["model"]  # G = 12, batch 4
    base = ShapeRenderConfig(image_size=config.image_size, voxel_size=config.voxel_size,
                             object_resolution=32, max_faces=512, num_points=0)  # fmt: skip
    data = {split: _Geometry(base.replace(split=split, num_samples=n)) for split, n in splits}
    data["classes"] = base.classes
    return st, data


def test_evaluation_and_outputs(ch10, tmp_path):
    """The held-out evaluation and the prediction files, with the truth as the "prediction"
    and the initial sphere as the baseline (no model, no cubify: one metrics compile)."""
    st, data = _quick_data(ch10, [("test", 8)])
    sv, sf = ch10.sphere_baseline(st)
    assert len(sv) == 162 and np.allclose(np.linalg.norm(sv - sv.mean(0), axis=1), 0.3, atol=1e-5)
    fns = {"sphere": lambda batch: ch10.broadcast_mesh(sv, sf, 4)}
    writer = ch10.PredictionWriter(tmp_path / "predictions", data["classes"], 1, 0.5)

    def predict(variables, images):  # a perfect "prediction": the batch's own meshes
        b = variables["batch"]
        assert images is b["images"]
        truth = ch10.gt_meshes(b)
        scores = np.where(b["voxels"], 5.0, -5.0).astype(np.float32)
        return MeshRCNNOutput(scores, truth, (truth,), np.zeros(4, bool), np.zeros(4, np.int32))

    class _Data:  # hands every batch to `predict` (the stand-in model sees the truth)
        def __init__(self, data, variables):
            self.data, self.variables = data, variables

        def get_batch(self, indices):
            self.variables["batch"] = self.data.get_batch(indices)
            return self.variables["batch"]

    variables = {}
    protocol = ch10.dataclasses.replace(ch10.MESH_RCNN_SHAPENET, num_samples=1000)
    idx = ch10.per_class_indices(data["test"], data["classes"], 1)
    assert len(idx) == 8  # one object of every class
    evals, overflow = ch10.evaluate(predict, variables, _Data(data["test"], variables), idx,
                                    data["classes"], batch_size=4, protocol=protocol, seed=1,
                                    baselines=fns, on_batch=writer)  # fmt: skip
    assert len(overflow) == 8 and not overflow.any()
    total = {name: ch10.table_totals(ev)["total"] for name, ev in evals.items()}
    assert set(total) == {"refined", "cubified", "sphere"}
    rows = evals["refined"].rows()
    assert [r[0] for r in rows] == list(data["classes"]) + ["total", "per-instance"]
    assert all(r[1] == 1 for r in rows[:8])
    # the truth against itself (two samplings of each mesh): near-perfect; the sphere is not
    assert total["refined"]["F1(0.5)"] > 95 and total["refined"]["chamfer"] < 0.2
    assert total["sphere"]["F1(0.3)"] < 30 and total["sphere"]["chamfer"] > 1.0

    # outputs: the input PNG and OBJ files of every object; the OBJs hold the meshes
    pngs = sorted((tmp_path / "predictions").rglob("*.png"))
    assert len(pngs) == 8 and len(list((tmp_path / "predictions").rglob("*.obj"))) == 24
    chair = data["test"].get_batch([0])
    assert chair["category"][0] == 0
    for suffix in ("", "_gt", "_cubified"):
        verts, faces, _ = load_obj(tmp_path / "predictions" / "chair" / f"0000{suffix}.obj")
        n = int(chair["num_verts"][0])
        np.testing.assert_allclose(np.asarray(verts), chair["verts"][0, :n], atol=1e-5)
        assert len(faces.verts_idx) == int(chair["num_faces"][0])
    assert len(writer.rows) == 8 and writer.rows[0][3].shape == (12, 12, 12)
    np.testing.assert_array_equal(writer.rows[0][3], chair["voxels"][0])

    # the tables and the comparison of runs
    ch10.write_tables(evals, tmp_path, "run A")
    table = json.loads((tmp_path / "table.json").read_text())
    assert table["title"] == "run A" and table["refined"]["rows"][-1][0] == "per-instance"
    assert "baseline: the initial sphere" in (tmp_path / "table.md").read_text()
    text = ch10.compare_runs([tmp_path, tmp_path])
    lines = text.splitlines()
    assert sum(line.startswith("| run A |") for line in lines) == 2
    assert any(line.startswith("| sphere (baseline) |") for line in lines)
    assert "| category | run A | run A | sphere (baseline) |" in text
    chair = next(line for line in lines if line.startswith("| chair |"))
    assert len(chair.split("|")) == 6  # 3 runs + the class


@pytest.mark.slow  # two cubify compiles
def test_baselines(ch10):
    """The mean-shape baseline and the ground-truth-voxel oracle: the cubified ground-truth
    voxels land on the ground-truth mesh (voxel and camera frames agree), closer than any
    constant prediction."""
    st, data = _quick_data(ch10, [("train", 16), ("val", 8), ("test", 8)])
    fns, info = ch10.baselines(st, data, seed=0, log=lambda *a: None)
    assert info["mean shape"]["threshold"] in info["mean shape"]["val_F1(0.3)"]
    assert set(fns) == {"sphere", "mean shape", "gt voxels"}
    protocol = ch10.dataclasses.replace(ch10.MESH_RCNN_SHAPENET, num_samples=ch10._VAL_POINTS)
    idx = ch10.per_class_indices(data["test"], data["classes"], 1)
    evals, _ = ch10.evaluate(None, None, data["test"], idx, data["classes"], batch_size=4,
                             protocol=protocol, seed=1, baselines=fns)  # fmt: skip
    total = {name: ch10.table_totals(ev)["total"] for name, ev in evals.items()}
    # at G = 12 a voxel is ~2 units of the 10-unit box: F1 at 0.1-0.5 stays low for all
    for name in ("sphere", "mean shape"):
        assert total["gt voxels"]["chamfer"] < 0.75 * total[name]["chamfer"]
        assert total["gt voxels"]["normal"] > total[name]["normal"]


@pytest.mark.slow  # trains the tiny model twice (compiles dominate: minutes on 2 shared cores)
def test_quick_run_and_resume(ch10, tmp_path):
    out = tmp_path / "run"
    first = ch10.main(["--quick", "--steps", "4", "--out", str(out)])
    assert first["steps"] == 4
    metrics = ch10.main(["--quick", "--resume", "--out", str(out)])  # the preset's 6 steps
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["steps"] == 6 and metrics["complete"]
    assert [c["to_step"] for c in metrics["training_calls"]] == [4, 6]
    rows = read_jsonl(out / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]  # resumed, not redone
    # the full loss (after the 2 warm-up steps) goes down on the training batches
    assert metrics["final_loss"] < metrics["first_loss"]
    assert set(metrics["table"]) == {"refined", "cubified", "sphere", "mean shape", "gt voxels"}
    assert metrics["num_test"] == 8
    for name in ("figure.png", "curves.png", "table.md", "table.json"):
        assert (out / name).stat().st_size > 1000
    for c in ("chair", "table", "bookcase", "lamp"):
        names = sorted(p.name for p in (out / "predictions" / c).iterdir())
        assert [n[4:] for n in names] == [".obj", ".png", "_cubified.obj", "_gt.obj"]
    sphere = ch10.main(["--quick", "--sphere-init", "--steps", "3", "--out", str(tmp_path / "s"),
                        "--cache", str(out / "data")])  # fmt: skip
    assert sphere["settings"]["model"]["voxel_on"] is False
    assert "cubified" not in sphere["table"] and sphere["steps"] == 3
    assert ch10.main(["--compare", str(out), str(tmp_path / "s"), "--figure",
                      str(tmp_path / "compare.png")]) is None  # fmt: skip
    assert (tmp_path / "compare.png").stat().st_size > 10_000
