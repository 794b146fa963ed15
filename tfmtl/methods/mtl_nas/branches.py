"""Helpers shared by NDDR and MTL-NAS: one backbone per task, run by block."""

import keras

from tfmtl.methods.mtl_nas.cross_stitch_fusion import CrossStitchFusion
from tfmtl.methods.mtl_nas.nddr_fusion import NDDRFusion
from tfmtl.models.backbones import builders

FUSIONS = {"nddr": NDDRFusion, "cross_stitch": CrossStitchFusion}


def fusion_class(name):
    """The fusion-op class of `name` (`"nddr"` or `"cross_stitch"`)."""
    if name not in FUSIONS:
        raise ValueError(
            f"Unknown fusion {name!r}; expected one of {sorted(FUSIONS)}."
        )
    return FUSIONS[name]


def make_branches(backbone, num_branches):
    """Returns `num_branches` independent backbones.

    Args:
        backbone: a zero-argument factory returning a fresh backbone, or a
            backbone layer (used for the first branch and cloned from its
            config for the others).
        num_branches: int, number of backbones.

    Returns:
        A list of backbone layers exposing `stem`, `blocks`, `stage_ends`.
    """
    if isinstance(backbone, keras.layers.Layer):
        config = backbone.get_config()
        config.pop("name", None)
        branches = [backbone] + [
            type(backbone).from_config(dict(config))
            for _ in range(num_branches - 1)
        ]
    else:
        branches = [backbone() for _ in range(num_branches)]
    for b in branches:
        for attribute in ("stem", "blocks", "stage_ends"):
            if not hasattr(b, attribute):
                raise ValueError(
                    f"Backbone {type(b).__name__} has no {attribute!r}; NDDR "
                    "and MTL-NAS need stage-wise access to the backbone."
                )
    return branches


def block_shapes(backbone, input_shape, pretrained=None):
    """Builds `backbone` and returns the output shape of every block.

    A newly built backbone with a `load_pretrained(path)` method (`VGG16`)
    then loads its own `pretrained` file, or `pretrained` when given.
    """
    shape = builders.free_spatial(input_shape)
    newly_built = not backbone.built
    if not backbone.stem.built:
        backbone.stem.build(shape)
    shape = tuple(backbone.stem.compute_output_shape(shape))
    shapes = []
    for block in backbone.blocks:
        if not block.built:
            block.build(shape)
        shape = tuple(block.compute_output_shape(shape))
        shapes.append(shape)
    backbone.built = True
    if newly_built:
        load = getattr(backbone, "load_pretrained", None)
        if load is not None:
            load(pretrained)
        elif pretrained is not None:
            raise ValueError(
                f"Backbone {type(backbone).__name__} cannot load pretrained "
                "weights (no load_pretrained method)."
            )
    return shapes


def check_pretrained(branch_pretrained, tasks):
    """Validates per-branch weight files: None or one entry per task."""
    if branch_pretrained is None:
        return None
    paths = tuple(None if p is None else str(p) for p in branch_pretrained)
    if len(paths) != len(tasks):
        raise ValueError(
            f"branch_pretrained has {len(paths)} entries for {len(tasks)} "
            "tasks (one weights file, or None, per task branch)."
        )
    return paths


def stage_of_blocks(stage_ends):
    """Maps each block index to the index of the stage it belongs to."""
    stages, start = [], 0
    for stage, end in enumerate(stage_ends):
        stages += [stage] * (end + 1 - start)
        start = end + 1
    return stages
