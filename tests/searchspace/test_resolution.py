"""Input resolution as a search dimension: the plan resizes the data on the device first,
its costs are those at the resolution, and bad resolutions are refused before training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space, check_space_fits
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder
from nasforge.searchspace.plan_ops import Resize
from nasforge.searchspace.resolution import resized_plan

FASHION = DataSpec((1, 28, 28), 10, name="fashion-like")
SEQUENCE = DataSpec((2, 40), 4, name="signals")
FLAT = DataSpec((12,), 3, name="table")


def cnn(**values: object) -> Architecture:
    base = {"family": "cnn", "cnn.stages": 2, "cnn.convs_per_stage": 1, "cnn.channels": 8,
            "cnn.kernel": 3, "cnn.pool": "max", "cnn.readout": "global_avg",
            "cnn.head_width": 0, "activation": "relu", "norm": "batch", "dropout": 0.0}
    return Architecture({**base, **values})


def test_the_plan_takes_the_data_and_resizes_it_first() -> None:
    plan = plan_for(cnn(resolution=16), FASHION)
    assert plan.input_shape == (1, 28, 28)
    assert plan.ops[0] == Resize(2, (28, 28), 16)
    assert plan.shapes[0] == (1, 16, 16)
    assert plan.shapes[1] == (8, 16, 16)  # the first conv works at 16 x 16
    without = plan_for(cnn(), DataSpec((1, 16, 16), 10))
    assert plan.ops[1:] == without.ops and plan.shapes[1:] == without.shapes


def test_macs_follow_the_resolution_squared() -> None:
    """The convolutions' MACs scale with the pixels; the head's (after the global pool) not."""
    arch = cnn(**{"cnn.pool": "none"})
    full = plan_for(arch, FASHION)
    head = 8 * 10
    for r in (14, 20, 24):
        plan = plan_for(arch.replace(resolution=r), FASHION)
        assert plan.macs - head == (full.macs - head) * r * r // (28 * 28)
        assert plan.params == full.params  # the weights do not depend on the resolution
    assert plan_for(arch.replace(resolution=14), FASHION).macs < full.macs / 3


def test_at_the_datas_own_size_the_plan_is_the_one_without_the_key() -> None:
    assert plan_for(cnn(resolution=28), FASHION) == plan_for(cnn(), FASHION)


def test_sequences_resize_their_length() -> None:
    plan = plan_for(cnn(resolution=32), SEQUENCE)
    assert plan.ops[0] == Resize(1, (40,), 32) and plan.shapes[0] == (2, 32)
    model = build_from_plan(plan).eval()
    assert model(torch.randn(3, 2, 40)).shape == (3, 4)


def test_an_mlp_on_images_flattens_the_resized_image() -> None:
    arch = Architecture({"family": "mlp", "mlp.depth": 1, "mlp.width": 16,
                         "activation": "relu", "norm": "none", "dropout": 0.0,
                         "resolution": 14})
    plan = plan_for(arch, FASHION)
    assert plan.ops[1:3][0].__class__.__name__ == "Flatten" and plan.shapes[1] == (196,)


def test_the_built_model_takes_raw_sized_images_and_resizes_them_antialiased() -> None:
    plan = plan_for(cnn(resolution=20), FASHION)
    torch.manual_seed(0)
    model = build_from_plan(plan).eval()
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    resized = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False,
                            antialias=True)
    with torch.no_grad():
        torch.testing.assert_close(model[0](x), resized, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model(x), model[1:](resized), rtol=1e-5, atol=1e-5)
    assert not any(k.startswith("0.") for k in model.state_dict())  # nothing to store


def test_non_square_images_are_resized_to_a_square_no_larger_than_the_short_side() -> None:
    wide = DataSpec((3, 20, 30), 10, name="wide")
    plan = plan_for(cnn(resolution=16), wide)
    assert plan.ops[0] == Resize(2, (20, 30), 16) and plan.shapes[0] == (3, 16, 16)
    model = build_from_plan(plan).eval()
    assert model(torch.randn(2, 3, 20, 30)).shape == (2, 10)
    with pytest.raises(SpaceError,
                       match=r"resolution 24 is larger .*\(20 x 30.*<= 20 \(the smaller side"):
        plan_for(cnn(resolution=24), wide)


def _space(resolution: object, **cnn_table: object) -> object:
    return assemble_space(["cnn"], {"resolution": resolution},
                          {"cnn": {"stages": [1, 2], "channels": 4, **cnn_table}})


def test_the_key_is_an_ordinary_parameter_and_absent_means_none() -> None:
    space = _space([24, 28])
    assert sorted(space.params["resolution"].values()) == [24, 28]
    assert "resolution" not in assemble_space(["cnn"], {}, {}).params
    ranged = _space({"low": 20, "high": 28, "step": 4})
    assert sorted(ranged.params["resolution"].values()) == [20, 24, 28]
    rng = np.random.default_rng(0)
    assert {space.sample(rng)["resolution"] for _ in range(40)} == {24, 28}


def test_spaces_without_the_key_keep_their_parameters_and_so_their_arch_ids() -> None:
    plain = assemble_space(["cnn"], {}, {})
    resized = assemble_space(["cnn"], {"resolution": [24, 28]}, {})
    assert set(resized.params) - set(plain.params) == {"resolution"}
    arch = plain.sample(np.random.default_rng(0))
    assert "resolution" not in arch
    assert arch.arch_id != arch.replace(resolution=28).arch_id


@pytest.mark.parametrize(("resolution", "message"), [
    ([24, 32], r"resolution 32 is larger than the data's images \(28 x 28 in dataset "
               r"'fashion-like'\).*Pick values <= 28"),
    ({"low": 16, "high": 40}, r"resolution \d+ is larger .*Pick values <= 28"),
])
def test_a_resolution_larger_than_the_images_is_refused(resolution: object,
                                                        message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        check_space_fits(_space(resolution), FASHION)  # type: ignore[arg-type]


def test_a_resolution_on_flat_features_is_refused() -> None:
    space = assemble_space(["mlp"], {"resolution": 8}, {})
    with pytest.raises(SpaceError, match=r"flat features of shape \(12,\); remove resolution"):
        check_space_fits(space, FLAT)


@pytest.mark.parametrize("bad", [0, -4, 2.5, [8, True], {"low": 1.0, "high": 4.0}, 10_000])
def test_resolutions_that_are_not_pixel_counts_are_refused(bad: object) -> None:
    with pytest.raises(SpaceError, match="resolution must be whole numbers of pixels"):
        assemble_space(["cnn"], {"resolution": bad}, {})


def test_the_cnn_stops_pooling_at_two_pixels_so_tiny_resolutions_still_plan() -> None:
    space = _space([1, 2, 28], stages=4, pool="max", readout="flatten")
    check_space_fits(space, FASHION)  # type: ignore[arg-type]
    plan = plan_for(cnn(**{"cnn.stages": 4}, resolution=2), FASHION)
    assert all(min(shape) >= 1 for shape in plan.shapes)


class _Strided:
    """A family that halves the size with every stage without a floor (as strided blocks
    that are not 'same'-padded would)."""

    name = "strided"
    layer_count_key = None

    def check_data(self, data: DataSpec) -> None:
        pass

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        plan = PlanBuilder(self.name, data.input_shape)
        for _ in range(3):
            plan.pool("avg", 2)
        return plan.global_pool().linear(data.num_outputs).build()


def test_a_resolution_below_what_the_strides_allow_is_refused_naming_it() -> None:
    family = _Strided()
    assert resized_plan(family, cnn(), FASHION, 8).shapes[-3] == (1, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match=r"resolution 6 is too small for the strided family: "
                                         r"its Pool op leaves a feature map of shape \(1, 0, 0\)"):
        resized_plan(family, cnn(), FASHION, 6)  # type: ignore[arg-type]


def test_families_are_registered_as_before() -> None:
    assert {"mlp", "cnn", "cell"} <= set(FAMILIES.names())
