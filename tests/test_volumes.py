"""Volumes: the voxeliser against hand-computed grids, occupancy, rotations, the synthetic and molecular sets, one-line
errors, the 3-D models and their summaries, and a short training run that predicts from files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import striate
from striate.data import load_data
from striate.data.volumes import (
    RandomRot90,
    RandomRotation3d,
    make_molecules3d,
    make_shapes3d,
    occupancy,
    random_rotations,
    read_xyz,
    sample_surface,
    voxelize,
    write_xyz,
)
from striate.errors import DataError
from striate.models import create
from striate.summary import summarize


def reference_grid(atoms, channels, size, resolution, sigma, center):
    """The density grid by plain loops in float64: every voxel centre against every atom."""
    grid = np.zeros((len(channels), size, size, size))
    for element, position in atoms:
        for i in range(size):
            for j in range(size):
                for k in range(size):
                    voxel = [center[a] + (index - (size - 1) / 2) * resolution for a, index in enumerate((i, j, k))]
                    squared = sum((voxel[a] - position[a]) ** 2 for a in range(3))
                    grid[channels.index(element), i, j, k] += math.exp(-squared / (2 * sigma**2))
    return grid


def test_one_atom_matches_hand_computed_values():
    grid = voxelize(["C"], [[0.0, 0.0, 0.0]], channels=("C",), size=4, resolution=1.0, sigma=1.0, center=(0, 0, 0))
    # voxel centres at -1.5, -0.5, 0.5, 1.5: the four inner voxels are sqrt(0.75) from the atom
    assert grid[0, 1, 1, 1].item() == pytest.approx(math.exp(-0.375), abs=1e-7)
    assert grid[0, 0, 0, 0].item() == pytest.approx(math.exp(-3 * 2.25 / 2), abs=1e-7)
    assert grid[0, 0, 1, 2].item() == pytest.approx(math.exp(-(2.25 + 0.25 + 0.25) / 2), abs=1e-7)


def test_two_atoms_match_a_loop_reference():
    atoms = [("C", (0.1, -0.2, 0.3)), ("O", (-0.4, 0.5, 0.0)), ("C", (0.6, 0.6, -0.6))]
    channels, center = ("C", "N", "O"), (0.05, 0.0, -0.1)
    grid = voxelize([a for a, _ in atoms], [p for _, p in atoms], channels=channels, size=5, resolution=0.5,
                    sigma=0.7, center=center)
    np.testing.assert_allclose(grid.numpy(), reference_grid(atoms, channels, 5, 0.5, 0.7, center), atol=1e-6)
    assert grid[1].abs().max() == 0  # no nitrogen, an empty channel


def test_default_centre_is_the_centroid():
    grid = voxelize(["N", "N"], [[10.0, 10.0, 10.0], [12.0, 10.0, 10.0]], channels=("N",), size=6, resolution=1.0)
    assert torch.equal(grid, grid.flip(1))  # symmetric about the centre along x


def test_occupancy_of_a_hand_made_cloud():
    points = [[0.0, 0.0, 0.0], [0.9, 0.9, 0.9], [3.5, 0.2, 0.1], [1.5, 2.5, 3.99]]
    grid = occupancy(points, size=4, resolution=1.0, center=(2.0, 2.0, 2.0))  # voxel i covers [i, i + 1)
    expected = torch.zeros(1, 4, 4, 4, dtype=torch.uint8)
    for i, j, k in [(0, 0, 0), (3, 0, 0), (1, 2, 3)]:
        expected[0, i, j, k] = 1
    assert torch.equal(grid, expected)


def test_occupancy_fits_any_scale_and_meshes_are_sampled_on_their_faces():
    vertices = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
    faces = [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6], [0, 2, 6],
             [0, 6, 4], [1, 5, 7], [1, 7, 3]]  # the unit cube's 12 triangles
    points = sample_surface(vertices, faces, 5000, seed=0)
    on_face = np.isclose(points, 0, atol=1e-9) | np.isclose(points, 1, atol=1e-9)
    assert on_face.any(axis=1).all()
    small, large = occupancy(points, size=8), occupancy(points * 1000, size=8)
    assert torch.equal(small, large) and small[0, 0].all() and small[0, 1:7, 1:7, 1:7].sum() == 0  # a hollow box


def test_rotations_keep_counts_and_density():
    rotations = random_rotations(50, torch.Generator().manual_seed(0)).double()
    np.testing.assert_allclose(rotations @ rotations.transpose(1, 2), torch.eye(3).expand(50, 3, 3), atol=1e-6)
    np.testing.assert_allclose(torch.linalg.det(rotations), torch.ones(50), atol=1e-6)
    xyz = np.array([[0.0, 0.0, 0.0], [1.4, 0.0, 0.0], [0.0, 1.1, 0.5]])
    before = voxelize(["C", "O", "C"], xyz, size=16, resolution=0.5, sigma=0.6).sum(dim=(1, 2, 3))
    after = voxelize(["C", "O", "C"], xyz @ rotations[0].numpy().T, size=16, resolution=0.5, sigma=0.6)
    np.testing.assert_allclose(after.sum(dim=(1, 2, 3)), before, rtol=1e-4)  # density per element = counts


def test_batch_rotations_on_the_device():
    torch.manual_seed(0)
    volumes = make_shapes3d(4, size=16).x
    turned = RandomRot90()(volumes)
    assert torch.equal(turned.flatten(1).sort(dim=1).values, volumes.flatten(1).sort(dim=1).values)  # permuted
    assert not torch.equal(turned, volumes)
    assert len({tuple(perm) + tuple(signs) for perm, signs in RandomRot90.ORIENTATIONS}) == 24
    blob = voxelize(["C"], [[0.3, -0.2, 0.1]], channels=("C",), size=16, resolution=1.0, sigma=1.5, center=(0, 0, 0))
    rotated = RandomRotation3d()(blob[None].repeat(8, 1, 1, 1, 1))
    np.testing.assert_allclose(rotated.sum(dim=(1, 2, 3, 4)), blob.sum().expand(8), rtol=0.02)
    assert torch.allclose(RandomRotation3d(p=0.0)(blob[None]), blob[None], atol=1e-5)  # the identity resamples
    assert torch.allclose(RandomRotation3d(degrees=0.0)(blob[None]), blob[None], atol=1e-5)


def test_shapes3d_label_depends_on_arrangement_not_counts():
    data = make_shapes3d(60, size=16, seed=1)
    sums = data.x.sum(dim=(2, 3, 4))  # (N, 2): the same in every volume
    assert ((sums - sums[0]).abs() / sums[0]).max() < 1e-3 and set(data.y.tolist()) == {0, 1}
    axis = torch.arange(16, dtype=torch.float32)
    centres = torch.stack([(data.x.sum(dim=dims) * axis).sum(dim=2) / data.x.sum(dim=dims).sum(dim=2)
                           for dims in ((3, 4), (2, 4), (2, 3))], dim=2)  # (N, 2 blobs, 3) density centroids
    distance = (centres[:, 0] - centres[:, 1]).norm(dim=1)
    assert torch.equal(data.y, (distance > 5.5).long())  # near 2.5-4.5 voxels, far 6.5-9
    near, far = data.x[data.y == 0][0], data.x[data.y == 1][0]  # same counts, different label
    assert torch.allclose(near.sum(dim=(1, 2, 3)), far.sum(dim=(1, 2, 3)), rtol=1e-3)


def test_molecules3d_targets_come_from_the_voxelised_conformer():
    from rdkit import Chem

    from striate.data.volumes import conformer, shape_descriptor

    data = make_molecules3d(12, size=16, resolution=1.2, seed=0)
    assert data.x.shape == (12, 6, 16, 16, 16) and data.input_kind == "volume" and data.target_kind == "real"
    assert bool(((data.y >= 0) & (data.y <= 1)).all())
    first = conformer(data.meta["smiles"][0], 0)
    assert data.y[0].item() == pytest.approx(shape_descriptor(first, "asphericity"), rel=1e-6)
    carbons = sum(atom.GetSymbol() == "C" for atom in Chem.MolFromSmiles(data.meta["smiles"][0]).GetAtoms())
    per_atom = (2 * math.pi) ** 1.5 * 0.8**3 / 1.2**3  # one Gaussian's sum over a fine enough grid
    assert data.x[0, 0].sum().item() == pytest.approx(carbons * per_atom, rel=0.02)


def test_xyz_round_trip(tmp_path):
    write_xyz(tmp_path / "w.xyz", ["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], "water")
    elements, coords = read_xyz(tmp_path / "w.xyz")
    assert elements == ["O", "H", "H"] and np.allclose(coords[2], [-0.24, 0.93, 0])


def test_wrong_rank_is_one_line(tmp_path):
    np.savez(tmp_path / "flat.npz", X=np.zeros((4, 8, 8), dtype=np.float32), y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"has X of shape \(4, 8, 8\).*expected numeric volumes \(N, C, D, H, W\)"):
        load_data(f"volumes:{tmp_path / 'flat.npz'}")


def test_unknown_element_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"Unknown element `Xe` for atom 1: expected one of C, N, O, F, S, Cl") as error:
        voxelize(["C", "Xe"], [[0, 0, 0], [1, 0, 0]])
    assert "\n" not in str(error.value)
    (tmp_path / "a").mkdir()
    write_xyz(tmp_path / "a" / "m.xyz", ["C", "Qq"], [[0, 0, 0], [1, 0, 0]])
    with pytest.raises(DataError, match=r"Unknown element `Qq` in the .xyz files"):
        load_data(f"volumes:{tmp_path}")


def test_coordinates_outside_the_grid_are_one_line(tmp_path):
    with pytest.raises(DataError, match=r"Atom 1 at \(9, 0, 0\) lies outside the grid: expected coordinates within "
                                        r"\+-4 of the centre \(0, 0, 0\) \(8 voxels of 1\)"):
        voxelize(["C", "C"], [[0, 0, 0], [9, 0, 0]], size=8, resolution=1.0, center=(0, 0, 0))
    with pytest.raises(DataError, match=r"Point 0 .* lies outside the grid"):
        occupancy([[5.0, 0, 0]], size=4, resolution=1.0, center=(0, 0, 0))
    (tmp_path / "a").mkdir()
    write_xyz(tmp_path / "a" / "big.xyz", ["C", "C"], [[0, 0, 0], [30, 0, 0]])
    with pytest.raises(DataError, match=r"big.xyz: Atom 0 .* lies outside the grid"):
        load_data(f"volumes:{tmp_path}?size=16&resolution=1")


def test_models_take_volumes_and_summaries_name_depth_and_time():
    for name in ("atomnet", "resnet3d"):
        model = create(name, num_classes=3, in_channels=2, input_size=(16, 16, 16))
        assert model(torch.zeros(2, 2, 16, 16, 16)).shape == (2, 3)
        summary = summarize(model, (2, 16, 16, 16))
        assert summary.spatial_names == ("D", "H", "W") and "RF (DxHxW)" in str(summary)
        assert summary.field_line().startswith("receptive field of the deepest map")
    atomnet = summarize(create("atomnet", in_channels=1), (1, 16, 16, 16))
    assert atomnet.deepest_field.receptive_field.size == (28, 28, 28)  # 5 + 1 pool + 3 x 3x3 at jump 4: 5+1+2*2*2+2*4*2
    clip_like = create("resnet3d", in_channels=1)
    clip_like.input_kind = "clip"
    assert summarize(clip_like, (1, 8, 16, 16)).spatial_names == ("T", "H", "W")


def test_training_beats_chance_and_predicts_from_files(tmp_path):
    run = striate.train(data="shapes3d?samples=640&seed=3", model="atomnet", epochs=8, seed=0, out=str(tmp_path),
                        quiet=True, model_args={"widths": [8, 16, 16, 16], "hidden": 32})
    assert run.results["test_accuracy"] >= 0.8  # chance: 0.5; counts alone: 0.5 (every volume has the same)
    volumes = make_shapes3d(2, size=16, seed=99)
    np.save(tmp_path / "v.npy", volumes.x.numpy())
    predictions = run.predict([tmp_path / "v.npy"])
    assert [p["source"] for p in predictions] == [f"{tmp_path / 'v.npy'}[0]", f"{tmp_path / 'v.npy'}[1]"]
    assert (run.path / "report.html").is_file() and run.info["input_kind"] == "volume"


def test_volume_augmentations_are_built_by_name():
    from striate.data.augment import build_augmentation
    from striate.errors import ConfigError

    augment = build_augmentation(["rot90", {"rotate": {"degrees": 30}}], (2, 16, 16, 16), "volume")
    assert [type(m) for m in augment] == [RandomRot90, RandomRotation3d] and augment[1].degrees == 30
    with pytest.raises(ConfigError, match=r"Unknown augmentation `spin`: expected one of rotate, rot90"):
        build_augmentation(["spin"], (2, 16, 16, 16), "volume")
