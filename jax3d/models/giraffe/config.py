"""GIRAFFE's settings as frozen dataclasses, with the book's (the authors') config keys.

A GIRAFFE run is configured by three sections, as in the authors' YAML files
(`configs/default.yaml` and the per-dataset files that override it):

- `data`: `DataConfig` (`path`, `fid_file`, `img_size`, `random_crop`, ...);
- `model`: `ModelConfig`: `z_dim`, `z_dim_bg` and the keyword groups `decoder_kwargs`,
  `background_generator_kwargs`, `bounding_box_generator_kwargs`, `generator_kwargs`,
  `neural_renderer_kwargs`, `discriminator_kwargs`;
- `training`: `TrainingConfig` (`batch_size`, `learning_rate`, `learning_rate_d`, ...).

`GiraffeConfig.from_dict(d)` reads such a (nested) dict, e.g. a preset YAML file, over the
defaults (the authors' `default.yaml`), rejecting unknown keys by name. The sizes that the
authors derive from each other (the decoders' code sizes from `z_dim` / `z_dim_bg`, the neural
renderer's image size from `img_size`) are filled in by `GiraffeConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BoundingBoxConfig",
    "DataConfig",
    "DecoderConfig",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "GiraffeConfig",
    "ModelConfig",
    "NeuralRendererConfig",
    "TrainingConfig",
]


def _tuple(value, name: str, n: int | None = None) -> tuple:
    t = tuple(float(v) for v in value) if not isinstance(value, (int, float)) else (value,)
    if n is not None and len(t) != n:
        raise ValueError(f"{name} must have {n} values, got {value!r}")
    return t


def _positive_int(obj, *names: str) -> None:
    for name in names:
        v = getattr(obj, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{type(obj).__name__}.{name} must be an int >= 1, got {v!r}")


def _range(obj, name: str) -> None:
    lo, hi = getattr(obj, name)
    if not lo <= hi:
        raise ValueError(f"{type(obj).__name__}.{name} must be (low, high) with low <= high, "
                         f"got {getattr(obj, name)!r}")  # fmt: skip


@dataclass(frozen=True)
class DecoderConfig:
    """A feature field (GIRAFFE's `Decoder`; `decoder_kwargs` / `background_generator_kwargs`).

    Attributes:
        hidden_size: width of the MLP.
        n_blocks: hidden layers of the density trunk (the input layer included).
        skips: trunk layers after which the shape code and the encoded position are added
            again (the authors' `skips=[4]`: after the fifth layer).
        use_viewdirs: condition the features on the encoded viewing direction.
        n_freq_posenc: frequencies `2^k pi, k < n` of the points' encoding.
        n_freq_posenc_views: frequencies of the directions' encoding.
        z_dim: size of the shape and appearance codes (set from `model.z_dim` / `z_dim_bg`).
        rgb_out_dim: size of the output feature `M_f`.
        final_sigmoid_activation: squash the features with a sigmoid (a plain NeRF).
        downscale_p_by: points are divided by this before the encoding (2 for objects, whose
            box spans [-1, 1]; 12 for the background, whose points reach depth 6).
    """

    hidden_size: int = 128
    n_blocks: int = 8
    skips: tuple[int, ...] = (4,)
    use_viewdirs: bool = True
    n_freq_posenc: int = 10
    n_freq_posenc_views: int = 4
    z_dim: int = 256
    rgb_out_dim: int = 128
    final_sigmoid_activation: bool = False
    downscale_p_by: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "skips", tuple(int(s) for s in self.skips))
        _positive_int(self, "hidden_size", "n_blocks", "z_dim", "rgb_out_dim")
        if self.n_freq_posenc < 1 or self.n_freq_posenc_views < 0:
            raise ValueError("n_freq_posenc must be >= 1 and n_freq_posenc_views >= 0")
        if not self.downscale_p_by > 0:
            raise ValueError(f"downscale_p_by must be > 0, got {self.downscale_p_by!r}")


BACKGROUND_DEFAULTS = {"hidden_size": 64, "n_blocks": 4, "downscale_p_by": 12.0, "skips": ()}


@dataclass(frozen=True)
class BoundingBoxConfig:
    """How object boxes are placed (GIRAFFE's `BoundingBoxGenerator`).

    Box `i` maps world points into its unit cube as `p_box = R_i (p - t_i) / s_i` (rotation
    about the world's z axis by `angle = 2 pi (r0 + u (r1 - r0))`); its object's density is
    zero outside `[-1 - pad, 1 + pad]^3`. A value `u` in [0, 1] picks each quantity within its
    range (`scale = min + u (max - min)`, the same `u` for x, y, z when `fix_scale_ratio`).

    Attributes:
        n_boxes: objects per scene, the static maximum `N`.
        n_boxes_min: the fewest objects; scenes draw a count uniformly in
            `[n_boxes_min, n_boxes]` and switch the others off (the authors' CLEVR-2345
            `sample_object_existance`, with uniform counts); `None` means always `n_boxes`.
        scale_range_min, scale_range_max: per-axis half-sizes.
        translation_range_min, translation_range_max: per-axis box centres (world, z up).
        z_level_plane: the centres' z when `object_on_plane`.
        rotation_range: fractions of a full turn about z.
        check_collision: resample overlapping boxes (at most `collision_rounds` rounds).
        collision_padding: extra gap between boxes when checking collisions.
        fix_scale_ratio: one scale value for the three axes.
        object_on_plane: put every centre at `z_level_plane`.
        collision_rounds: static bound of the resampling loop.
    """

    n_boxes: int = 1
    n_boxes_min: int | None = None
    scale_range_min: tuple[float, float, float] = (0.5, 0.5, 0.5)
    scale_range_max: tuple[float, float, float] = (0.5, 0.5, 0.5)
    translation_range_min: tuple[float, float, float] = (-0.75, -0.75, 0.0)
    translation_range_max: tuple[float, float, float] = (0.75, 0.75, 0.0)
    z_level_plane: float = 0.0
    rotation_range: tuple[float, float] = (0.0, 1.0)
    check_collision: bool = False
    collision_padding: float = 0.1
    fix_scale_ratio: bool = True
    object_on_plane: bool = False
    collision_rounds: int = 64

    def __post_init__(self):
        for name in ("scale_range_min", "scale_range_max", "translation_range_min",
                     "translation_range_max"):  # fmt: skip
            object.__setattr__(self, name, _tuple(getattr(self, name), name, 3))
        object.__setattr__(self, "rotation_range", _tuple(self.rotation_range,
                                                          "rotation_range", 2))  # fmt: skip
        if not isinstance(self.n_boxes, int) or self.n_boxes < 0:
            raise ValueError(f"n_boxes must be an int >= 0, got {self.n_boxes!r}")
        lo = self.n_boxes_min
        if lo is not None and (not isinstance(lo, int) or not 0 <= lo <= self.n_boxes):
            raise ValueError(f"n_boxes_min must be None or an int in [0, n_boxes], got {lo!r}")
        if any(a > b for a, b in zip(self.scale_range_min, self.scale_range_max)):
            raise ValueError("scale_range_min must be <= scale_range_max")
        if min(self.scale_range_min) <= 0:
            raise ValueError(f"scales must be > 0, got {self.scale_range_min}")
        if any(a > b for a, b in zip(self.translation_range_min, self.translation_range_max)):
            raise ValueError("translation_range_min must be <= translation_range_max")
        _range(self, "rotation_range")


@dataclass(frozen=True)
class GeneratorConfig:
    """Cameras, rays and composition (GIRAFFE's `Generator`; `generator_kwargs`).

    The world is z-up; the camera sits at `radius * (sin phi cos theta, sin phi sin theta,
    cos phi)` with `theta = 2 pi u` and `phi = arccos(1 - 2 v)` (so `v = (1 - sin(elev)) / 2`:
    0.25 is 30 degrees above the ground plane), looking at the origin. Rays sample view depths
    `depth_range` at `n_ray_samples` points (stratified while training).

    Attributes:
        range_u, range_v: camera azimuth and polar-angle ranges as fractions (see above).
        range_radius: camera distance range.
        depth_range: near and far view depths of the samples.
        n_ray_samples: samples per ray `S`.
        resolution_vol: the volume-rendered feature image is `resolution_vol` square.
        fov: vertical field of view in degrees.
        background_rotation_range: fractions of a turn about z applied to the background
            (the authors' `backround_rotation_range`).
        use_max_composition: composite by the densest field instead of the density-weighted
            mean (the authors' ablation).
        box_padding: objects' density is zero outside `[-1 - pad, 1 + pad]^3` (0.1, fixed in
            the authors' code).
        density_noise: std of the Gaussian noise added to every field's density while
            training (1, as in the authors' code).
    """

    range_u: tuple[float, float] = (0.0, 0.0)
    range_v: tuple[float, float] = (0.25, 0.25)
    range_radius: tuple[float, float] = (2.732, 2.732)
    depth_range: tuple[float, float] = (0.5, 6.0)
    n_ray_samples: int = 64
    resolution_vol: int = 16
    fov: float = 49.13
    background_rotation_range: tuple[float, float] = (0.0, 0.0)
    use_max_composition: bool = False
    box_padding: float = 0.1
    density_noise: float = 1.0

    def __post_init__(self):
        for name in ("range_u", "range_v", "range_radius", "depth_range",
                     "background_rotation_range"):  # fmt: skip
            object.__setattr__(self, name, _tuple(getattr(self, name), name, 2))
            _range(self, name)
        _positive_int(self, "n_ray_samples", "resolution_vol")
        if not (0.0 <= self.range_v[0] and self.range_v[1] <= 1.0):
            raise ValueError(f"range_v must lie in [0, 1], got {self.range_v}")
        if not 0.0 < self.depth_range[0]:
            raise ValueError(f"depth_range must be positive, got {self.depth_range}")
        if not 0.0 < self.fov < 180.0:
            raise ValueError(f"fov must be in (0, 180) degrees, got {self.fov!r}")


@dataclass(frozen=True)
class NeuralRendererConfig:
    """The 2D neural renderer (GIRAFFE's `NeuralRenderer`; `neural_renderer_kwargs`).

    Attributes:
        n_feat: channels after the input projection (a 1x1 conv when `!= input_dim`).
        input_dim: channels of the feature image (the decoders' `rgb_out_dim`).
        out_dim: output channels.
        final_actvn: sigmoid on the output.
        min_feat: floor of the halving channel counts.
        img_size: output size (set from `data.img_size`); there are
            `log2(img_size / resolution_vol)` upsampling blocks (the authors' `log2(size) - 4`
            at `resolution_vol = 16`).
        use_rgb_skip: an RGB head at every scale added to the upsampled RGB of the last.
        upsample_feat: "nn" or "bilinear" for the features.
        upsample_rgb: "nn" or "bilinear" (followed by a [1, 2, 1] blur, as the authors') for
            the RGB skips.
        use_norm: instance norm after each block's conv.
    """

    n_feat: int = 128
    input_dim: int = 128
    out_dim: int = 3
    final_actvn: bool = True
    min_feat: int = 32
    img_size: int = 64
    use_rgb_skip: bool = True
    upsample_feat: str = "nn"
    upsample_rgb: str = "bilinear"
    use_norm: bool = False

    def __post_init__(self):
        _positive_int(self, "n_feat", "input_dim", "out_dim", "min_feat", "img_size")
        for name in ("upsample_feat", "upsample_rgb"):
            if getattr(self, name) not in ("nn", "bilinear"):
                raise ValueError(f"{name} must be 'nn' or 'bilinear', got {getattr(self, name)!r}")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """GIRAFFE's `DCDiscriminator` (`discriminator_kwargs`): `n_feat` channels at 4 x 4."""

    n_feat: int = 512

    def __post_init__(self):
        _positive_int(self, "n_feat")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the generator's and the discriminator's parameters and shapes.

    Attributes:
        z_dim, z_dim_bg: object and background code sizes.
        img_size: output image size.
        decoder: the object feature field (its `z_dim` is `z_dim`).
        background: the background field (its `z_dim` is `z_dim_bg`).
        bounding_box: object placement.
        generator: cameras, rays, composition.
        neural_renderer: the 2D renderer, or None to output the volume-rendered features
            (then `rgb_out_dim` must be 3 and the fields' sigmoid on: a plain 3D-aware GAN).
        discriminator: the discriminator.
    """

    z_dim: int = 256
    z_dim_bg: int = 128
    img_size: int = 64
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    background: DecoderConfig = field(
        default_factory=lambda: DecoderConfig(z_dim=128, **BACKGROUND_DEFAULTS)
    )
    bounding_box: BoundingBoxConfig = field(default_factory=BoundingBoxConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    neural_renderer: NeuralRendererConfig | None = field(default_factory=NeuralRendererConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def __post_init__(self):
        _positive_int(self, "z_dim", "z_dim_bg", "img_size")
        if self.decoder.z_dim != self.z_dim or self.background.z_dim != self.z_dim_bg:
            raise ValueError(
                f"decoder.z_dim ({self.decoder.z_dim}) and background.z_dim "
                f"({self.background.z_dim}) must equal z_dim ({self.z_dim}) and z_dim_bg "
                f"({self.z_dim_bg})"
            )
        if self.decoder.rgb_out_dim != self.background.rgb_out_dim:
            raise ValueError("the object and background fields must output the same feature "
                             f"size, got {self.decoder.rgb_out_dim} and "
                             f"{self.background.rgb_out_dim}")  # fmt: skip
        res, size = self.generator.resolution_vol, self.img_size
        nr = self.neural_renderer
        if nr is None:
            if size != res or self.decoder.rgb_out_dim != 3:
                raise ValueError("without a neural renderer img_size must equal "
                                 "resolution_vol and rgb_out_dim must be 3")  # fmt: skip
            return
        blocks = math.log2(size / res) if size >= res else -1.0
        if blocks < 1 or blocks != int(blocks):
            raise ValueError(f"img_size / resolution_vol must be a power of two >= 2, got "
                             f"{size} / {res}")  # fmt: skip
        if nr.img_size != size or nr.input_dim != self.decoder.rgb_out_dim:
            raise ValueError(
                f"neural_renderer.img_size ({nr.img_size}) and input_dim ({nr.input_dim}) must "
                f"equal img_size ({size}) and the fields' rgb_out_dim "
                f"({self.decoder.rgb_out_dim}); build the config with GiraffeConfig"
            )

    @property
    def n_upsampling_blocks(self) -> int:
        """Blocks of the neural renderer: `log2(img_size / resolution_vol)`."""
        return int(round(math.log2(self.img_size / self.generator.resolution_vol)))


@dataclass(frozen=True)
class DataConfig:
    """The real images (the authors' `data` section).

    Attributes:
        dataset_name: "images" (a glob of files: `path`) or "clevr_synthetic" (the scenes
            `jax3d.datasets.ClevrScenes` renders; `synthetic` holds its settings).
        path: glob of the image files, e.g. "data/comprehensive_cars/images/*.jpg".
        fid_file: optional `.npz` of precomputed real statistics (`m`, `s` or `mu`, `sigma`);
            they must come from the network the evaluation uses.
        img_size: image side.
        random_crop: scale the shorter side, then crop a random square (cars).
        celebA_center_crop: the central crop of CelebA (108 px) / CelebA-HQ (650 px) first.
        use_tanh_range: images in [-1, 1] (not used by GIRAFFE's configs; kept for the key).
        synthetic: keyword arguments of `jax3d.datasets.ClevrConfig` for "clevr_synthetic".
    """

    dataset_name: str = "images"
    path: str = "data/comprehensive_cars/images/*.jpg"
    fid_file: str | None = None
    img_size: int = 64
    random_crop: bool = False
    celebA_center_crop: bool = False  # noqa: N815 - the authors' key
    use_tanh_range: bool = False
    synthetic: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.dataset_name not in ("images", "clevr_synthetic"):
            raise ValueError(f"data.dataset_name must be 'images' or 'clevr_synthetic', got "
                             f"{self.dataset_name!r}")  # fmt: skip
        _positive_int(self, "img_size")
        object.__setattr__(self, "synthetic", dict(self.synthetic))

    def __hash__(self):
        return hash((self.dataset_name, self.path, self.img_size, tuple(sorted(self.synthetic))))

    @property
    def center_crop_size(self) -> int | None:
        """The square crop the authors take before resizing CelebA images (None: no crop)."""
        if not self.celebA_center_crop:
            return None
        return 650 if self.img_size > 128 else 108


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation (the authors' `training` section, plus the R1 weight and the EMA).

    Attributes:
        batch_size: images per step (real and generated).
        learning_rate: generator learning rate (5e-4; 2.5e-4 at 256 px).
        learning_rate_d: discriminator learning rate.
        optimizer: "RMSprop" (PyTorch's: decay 0.99, eps 1e-8 outside the root) or "Adam".
        r1_weight: weight of `E ||grad D(x)||^2` on real images (10 in the authors' code).
        ema_decay: decay of the generator's moving average used for evaluation (0.999).
        n_steps: training steps.
        print_every, checkpoint_every, visualize_every, validate_every: intervals in steps.
        n_eval_images: generated images per Frechet evaluation.
    """

    batch_size: int = 32
    learning_rate: float = 5e-4
    learning_rate_d: float = 1e-4
    optimizer: str = "RMSprop"
    r1_weight: float = 10.0
    ema_decay: float = 0.999
    n_steps: int = 200_000
    print_every: int = 10
    checkpoint_every: int = 500
    visualize_every: int = 1000
    validate_every: int = 10_000
    n_eval_images: int = 10_000

    def __post_init__(self):
        _positive_int(self, "batch_size", "n_steps", "print_every", "n_eval_images")
        if self.optimizer not in ("RMSprop", "Adam"):
            raise ValueError(f"training.optimizer must be 'RMSprop' or 'Adam', got "
                             f"{self.optimizer!r}")  # fmt: skip
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"training.ema_decay must be in [0, 1), got {self.ema_decay!r}")


# The authors' spellings of two keys, accepted when reading their files.
_ALIASES = {"check_collison": "check_collision",
            "backround_rotation_range": "background_rotation_range"}  # fmt: skip
_MODULE_NAMES = ("decoder", "discriminator", "generator", "background_generator",
                 "bounding_box_generator", "neural_renderer")  # fmt: skip
_MODEL_GROUPS = {
    "decoder_kwargs": "decoder",
    "background_generator_kwargs": "background",
    "bounding_box_generator_kwargs": "bounding_box",
    "generator_kwargs": "generator",
    "neural_renderer_kwargs": "neural_renderer",
    "discriminator_kwargs": "discriminator",
}


def _build(cls, values: Mapping, where: str, base=None):
    """`cls(**values)` over `base` (a dataclass instance or None), unknown keys rejected."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {} if base is None else {f: getattr(base, f) for f in names}
    for key, value in dict(values).items():
        key = _ALIASES.get(key, key)
        if key not in names:
            raise ValueError(f"unknown key {where}.{key}; known: {sorted(names)}")
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


@dataclass(frozen=True)
class GiraffeConfig:
    """A whole GIRAFFE run: `data`, `model`, `training` (see the module docstring).

    Build it with `from_dict` (the authors' layout, derived sizes filled in) or directly
    (then `model.img_size` must equal `data.img_size`).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def __post_init__(self):
        if self.model.img_size != self.data.img_size:
            raise ValueError(f"model.img_size ({self.model.img_size}) must equal data.img_size "
                             f"({self.data.img_size})")  # fmt: skip

    @classmethod
    def from_dict(cls, config: Mapping) -> GiraffeConfig:
        """Read the authors' nested layout (a preset file's contents) over the defaults.

        Keys: `data.*`, `training.*`, `model.z_dim`, `model.z_dim_bg`,
        `model.use_neural_renderer` and `model.<group>_kwargs.*` for the groups `decoder`,
        `background_generator`, `bounding_box_generator`, `generator`, `neural_renderer`,
        `discriminator`. The derived sizes are filled in: the decoders' `z_dim` from `z_dim` /
        `z_dim_bg`, the neural renderer's `img_size` from `data.img_size` and its `input_dim`
        (unless given) from the decoder's `rgb_out_dim`. `method`, `test` and `rendering`
        sections and the authors' module names (`decoder: simple`, ...) are accepted and
        ignored; any other unknown key raises a `ValueError` naming it.
        """
        config = dict(config or {})
        unknown = set(config) - {"data", "model", "training", "method", "test", "rendering"}
        if unknown:
            raise ValueError(f"unknown top-level keys {sorted(unknown)}")
        data = _build(DataConfig, config.get("data") or {}, "data")
        training = _build(TrainingConfig, config.get("training") or {}, "training")
        model = dict(config.get("model") or {})
        g = {}
        for key in list(model):
            if key in _MODEL_GROUPS:
                g[_MODEL_GROUPS[key]] = dict(model.pop(key) or {})
            elif key in _MODULE_NAMES and isinstance(model[key], str):
                model.pop(key)
        known = {"z_dim", "z_dim_bg", "use_neural_renderer"}
        if set(model) - known:
            raise ValueError(f"unknown keys model.{sorted(set(model) - known)}; known: "
                             f"{sorted(known | set(_MODEL_GROUPS))}")  # fmt: skip
        z, zb = int(model.get("z_dim", 256)), int(model.get("z_dim_bg", 128))
        dec = _build(DecoderConfig, {**g.get("decoder", {}), "z_dim": z}, "model.decoder_kwargs")
        bg = _build(DecoderConfig, {**BACKGROUND_DEFAULTS, **g.get("background", {}),
                                    "z_dim": zb}, "model.background_generator_kwargs")
        nr = None
        if model.get("use_neural_renderer", True):
            nr_values = {"input_dim": dec.rgb_out_dim, **g.get("neural_renderer", {}),
                         "img_size": data.img_size}  # fmt: skip
            nr = _build(NeuralRendererConfig, nr_values, "model.neural_renderer_kwargs")
        resolved = ModelConfig(
            z_dim=z,
            z_dim_bg=zb,
            img_size=data.img_size,
            decoder=dec,
            background=bg,
            bounding_box=_build(BoundingBoxConfig, g.get("bounding_box", {}),
                                "model.bounding_box_generator_kwargs"),  # fmt: skip
            generator=_build(GeneratorConfig, g.get("generator", {}), "model.generator_kwargs"),
            neural_renderer=nr,
            discriminator=_build(DiscriminatorConfig, g.get("discriminator", {}),
                                 "model.discriminator_kwargs"),  # fmt: skip
        )
        return cls(data=data, model=resolved, training=training)

    def to_dict(self) -> dict:
        """The resolved configuration in the authors' nested layout (round-trips through
        `from_dict`)."""
        m = self.model

        def plain(obj):
            return {k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(obj).items()}  # fmt: skip

        model = {
            "z_dim": m.z_dim,
            "z_dim_bg": m.z_dim_bg,
            "use_neural_renderer": m.neural_renderer is not None,
            "decoder_kwargs": {k: v for k, v in plain(m.decoder).items() if k != "z_dim"},
            "background_generator_kwargs": {k: v for k, v in plain(m.background).items()
                                            if k != "z_dim"},  # fmt: skip
            "bounding_box_generator_kwargs": plain(m.bounding_box),
            "generator_kwargs": plain(m.generator),
            "discriminator_kwargs": plain(m.discriminator),
        }
        if m.neural_renderer is not None:
            model["neural_renderer_kwargs"] = {
                k: v for k, v in plain(m.neural_renderer).items() if k != "img_size"
            }
        data = plain(self.data)
        data["synthetic"] = {k: list(v) if isinstance(v, tuple) else v
                             for k, v in dict(self.data.synthetic).items()}  # fmt: skip
        return {"data": data, "model": model, "training": plain(self.training)}
