"""Volumes `(N, C, D, H, W)`: voxel grids from NPZ files, atoms and point sets, a synthetic set and a molecular set.

- `voxelize(elements, coords, ...)` puts atoms on a cubic grid, one channel per element type, each atom a Gaussian
  density exp(-|r - c|^2 / (2 sigma^2)) summed at every voxel centre c; `occupancy(points, ...)` marks the voxels
  that hold at least one point (a scan's point cloud, or points sampled on a mesh's faces by `sample_surface`).
- Grid convention: `size` voxels of `resolution` units a side, centred on `center`; voxel i along an axis has its
  centre at `center + (i - (size - 1) / 2) * resolution`, and the axes x, y, z map to D, H, W.
- `--data volumes:PATH` reads an `.npz` (`X` `(N, C, D, H, W)` or `(N, D, H, W)`, `y`), or a folder of `.xyz` atom
  files or point clouds / meshes (`.npy`/`.pts` points, `.obj`/`.off` meshes) with one sub-folder per class or a
  labels CSV; `shapes3d` is a seeded synthetic set whose label depends on 3-D arrangement only; `molecules3d`
  builds conformers with RDKit and predicts a shape descriptor of each from its voxelised atoms.
- `RandomRotation3d` / `RandomRot90` rotate whole batches on the compute device (`--augment rotate`, `rot90`).

Hand-written because no library here does it: RDKit gives conformers and descriptors but no density grids, and
kornia's 3-D augmentations draw Euler angles per axis (not uniform over rotations) and resample in ways that do not
let a test pin the grid; the Gaussians factorise per axis, so the grid is three small exp tables and one einsum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from striate.data._dataset import Dataset, label_order
from striate.data._registry import register_dataset
from striate.errors import ConfigError, DataError, found_at

_SYMBOLS = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y "
            "Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe")
PERIODIC_TABLE = tuple(_SYMBOLS.split(" "))
"""Element symbols up to xenon, in order of atomic number: the channel order when elements are found in files."""
MOLECULE_ELEMENTS = ("C", "N", "O", "F", "S", "Cl")
"""The element channels of `molecules3d` (heavy atoms of its molecules; hydrogens are left out, as is usual)."""
POINT_SUFFIXES = {".npy", ".pts", ".obj", ".off"}


# --- The voxeliser ----------------------------------------------------------------------------------------------------

def grid_centres(size: int, resolution: float, center: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Voxel centre coordinates along each axis, `(3, size)` float64 (x for D, y for H, z for W)."""
    offsets = (np.arange(size, dtype=np.float64) - (size - 1) / 2) * resolution  # (size,)
    return np.asarray(center, dtype=np.float64)[:, None] + offsets[None, :]  # (3, size)


def _check_grid(size: int, resolution: float) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"Invalid `size` of the grid: expected a positive whole number of voxels, received {size!r}.")
    if not resolution > 0 or not math.isfinite(resolution):
        raise ConfigError(f"Invalid `resolution` of the grid: expected a positive length per voxel, received "
                          f"{resolution!r}.")


def _check_inside(coords: np.ndarray, size: int, resolution: float, center: np.ndarray, what: str) -> None:
    half = size * resolution / 2
    outside = np.nonzero((np.abs(coords - center) > half).any(axis=1))[0]
    if len(outside):
        i = int(outside[0])
        where = ", ".join(f"{v:.3g}" for v in coords[i])
        middle = ", ".join(f"{v:.3g}" for v in center)
        raise DataError(f"{what} {i} at ({where}) lies outside the grid: expected coordinates within +-{half:g} of "
                        f"the centre ({middle}) ({size} voxels of {resolution:g}); use a larger `size` or "
                        "`resolution`.")


def voxelize(elements: Sequence[str], coords, *, channels: Sequence[str] = MOLECULE_ELEMENTS, size: int = 24,
             resolution: float = 0.8, sigma: float = 0.8, center: Sequence[float] | None = None) -> torch.Tensor:
    """Atoms as Gaussian densities on a grid, one channel per element type.

    Input: `elements` `(A,)` symbols, `coords` `(A, 3)`. Output: `(len(channels), size, size, size)` float32, where
    voxel (i, j, k) of channel c holds the sum over the atoms a of element c of
    exp(-((x_i - x_a)^2 + (y_j - y_a)^2 + (z_k - z_a)^2) / (2 sigma^2)) (see the module notes for the centres).

    Args:
        channels: the element of each channel; an atom of any other element is an error.
        size, resolution: voxels per side and their length (Angstrom for molecules).
        sigma: the Gaussian's standard deviation, in the coordinates' unit.
        center: the grid's centre; the atoms' centroid by default.

    Example:
        >>> voxelize(["C", "O"], [[0, 0, 0], [1.2, 0, 0]], size=8).shape
        torch.Size([6, 8, 8, 8])
    """
    _check_grid(size, resolution)
    xyz = _coordinates(coords, len(elements))
    index = {element: c for c, element in enumerate(channels)}
    for number, element in enumerate(elements):
        if element not in index:
            raise DataError(f"Unknown element `{element}` for atom {number}: expected one of {', '.join(channels)}; "
                            "add it to `elements` or leave that atom out.")
    middle = xyz.mean(axis=0) if center is None and len(xyz) else np.asarray(center or (0, 0, 0), dtype=np.float64)
    _check_inside(xyz, size, resolution, middle, "Atom")
    centres = torch.from_numpy(grid_centres(size, resolution, middle))  # (3, S)
    gauss = torch.exp(-(centres[None] - torch.from_numpy(xyz)[:, :, None]) ** 2 / (2 * sigma**2))  # (A, 3, S)
    onehot = F.one_hot(torch.tensor([index[e] for e in elements], dtype=torch.int64),
                       len(channels)).to(torch.float64)  # (A, C)
    grid = torch.einsum("ac,ai,aj,ak->cijk", onehot, gauss[:, 0], gauss[:, 1], gauss[:, 2])  # (C, S, S, S)
    return grid.to(torch.float32)


def _coordinates(coords, count: int | None = None) -> np.ndarray:
    try:
        xyz = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"Invalid coordinates: expected numbers of shape (N, 3), received {type(coords).__name__}."
                        ) from None
    if xyz.ndim != 2 or xyz.shape[1] != 3 or (count is not None and len(xyz) != count):
        expected = f"({count}, 3)" if count is not None else "(N, 3)"
        raise DataError(f"Invalid coordinates of shape {xyz.shape}: expected {expected}, x y z per point.")
    if not np.isfinite(xyz).all():
        raise DataError("Invalid coordinates: expected finite numbers, found NaN or infinity.")
    return xyz


def occupancy(points, *, size: int = 32, resolution: float | None = None,
              center: Sequence[float] | None = None) -> torch.Tensor:
    """Points as an occupancy grid: 1 where a voxel holds at least one point, else 0.

    Input: `points` `(P, 3)`. Output: `(1, size, size, size)` uint8. Voxel i along an axis covers
    `[center + (i - size / 2) * resolution, center + (i + 1 - size / 2) * resolution)`.

    Args:
        resolution: voxel side in the points' unit; None fits the points' bounding box (its longest side) to the
            grid, centred, as is usual for scans of objects of any scale.
        center: the grid's centre; the bounding box's middle by default.
    """
    xyz = _coordinates(points)
    if not len(xyz):
        raise DataError("Invalid point cloud: expected at least one point, received none.")
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    middle = (low + high) / 2 if center is None else np.asarray(center, dtype=np.float64)
    fit = resolution is None
    if fit:
        extent = float((high - low).max())
        resolution = extent / size * (1 + 1e-9) if extent > 0 else 1.0
    _check_grid(size, resolution)
    if not fit:
        _check_inside(xyz, size, resolution, middle, "Point")
    cells = np.floor((xyz - middle) / resolution + size / 2).astype(np.int64).clip(0, size - 1)  # (P, 3)
    grid = torch.zeros(1, size, size, size, dtype=torch.uint8)
    grid[0, cells[:, 0], cells[:, 1], cells[:, 2]] = 1
    return grid


def sample_surface(vertices, faces, count: int = 2048, seed: int = 0) -> np.ndarray:
    """`count` points uniform over a triangle mesh's surface: `(V, 3)` vertices, `(F, 3)` faces -> `(count, 3)`."""
    vertices, faces = _coordinates(vertices), np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or not len(faces) or faces.min() < 0 or faces.max() >= len(vertices):
        raise DataError(f"Invalid mesh faces of shape {faces.shape}: expected (F, 3) vertex indices in [0, "
                        f"{len(vertices)}).")
    a, b, c = (vertices[faces[:, k]] for k in range(3))  # (F, 3) each
    areas = np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(faces), size=count, p=areas / areas.sum() if areas.sum() > 0 else None)
    u, v = rng.random((2, count, 1))
    flip = (u + v) > 1  # reflect into the triangle: uniform barycentric coordinates
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    return a[chosen] + u * (b - a)[chosen] + v * (c - a)[chosen]


def random_rotations(count: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """`(count, 3, 3)` rotation matrices uniform over SO(3) (from uniform unit quaternions, Shoemake 1992)."""
    q = torch.randn(count, 4, generator=generator).to(device)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, dim=1).reshape(count, 3, 3)


# --- Batch augmentation on the device ---------------------------------------------------------------------------------

class RandomRotation3d(nn.Module):
    """Rotate each volume of a batch about the grid's centre by a random rotation, trilinear resampling.

    Input: `(N, C, D, H, W)` -> Output: the same shape; what turns out of the grid is lost, what turns in is zero.
    Rotations are uniform over all orientations, or at most `degrees` about a uniform random axis.

    Args:
        degrees: the largest angle; 180 means any orientation.
        p: probability that a volume is rotated at all.
    """

    def __init__(self, degrees: float = 180.0, p: float = 1.0):
        super().__init__()
        if not 0 <= degrees <= 180:
            raise ConfigError(f"Invalid `degrees` for rotate: expected an angle in [0, 180], received {degrees}.")
        self.degrees, self.p = float(degrees), float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.degrees >= 180:
            matrices = random_rotations(n, device=x.device)
        else:
            axis = F.normalize(torch.randn(n, 3, device=x.device), dim=1)
            angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(self.degrees)
            matrices = _axis_angle(axis, angle)
        keep = torch.rand(n, device=x.device) >= self.p
        matrices[keep] = torch.eye(3, device=x.device)
        # affine_grid reads (x, y, z) as (W, H, D); reverse the axes so the rotation acts on (D, H, W).
        flip = torch.eye(3, device=x.device).flip(0)
        theta = torch.cat([flip @ matrices @ flip, torch.zeros(n, 3, 1, device=x.device)], dim=2)  # (N, 3, 4)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, D, H, W, 3)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: `(N, 3)` unit axes and `(N,)` angles -> `(N, 3, 3)`."""
    x, y, z = axis.unbind(1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=1).reshape(-1, 3, 3)  # (N, 3, 3) cross-product
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return torch.eye(3, device=axis.device) + s * k + (1 - c) * (k @ k)


class RandomRot90(nn.Module):
    """Each volume turned into one of the cube's 24 orientations (exact: voxels are permuted, never resampled).

    Input: `(N, C, D, H, W)` with D = H = W -> Output: the same shape.
    """

    ORIENTATIONS: tuple = tuple(
        (perm, signs) for perm in ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2))
        for signs in itertools.product((1, -1), repeat=3)
        if (1 if perm in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1) * math.prod(signs) == 1)

    def __init__(self, p: float = 1.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(set(x.shape[2:])) != 1:
            raise DataError(f"Invalid volumes of shape {tuple(x.shape)} for rot90: expected cubes, D = H = W.")
        choice = torch.randint(len(self.ORIENTATIONS), (x.shape[0],)).tolist()
        apply = (torch.rand(x.shape[0]) < self.p).tolist()
        return torch.stack([self.turn(volume, self.ORIENTATIONS[k]) if go else volume
                            for volume, k, go in zip(x, choice, apply, strict=True)])

    @staticmethod
    def turn(volume: torch.Tensor, orientation: tuple) -> torch.Tensor:
        """One `(C, D, H, W)` volume with its spatial axes permuted by `perm` and reversed where `signs` is -1."""
        perm, signs = orientation
        turned = volume.permute(0, *(1 + p for p in perm))  # (C, D, H, W) with its axes reordered
        flipped = [1 + axis for axis, sign in enumerate(signs) if sign < 0]
        return turned.flip(flipped) if flipped else turned


def _rotate(degrees: float = 180.0, p: float = 1.0) -> nn.Module:
    return RandomRotation3d(degrees, p)


def _rot90(p: float = 1.0) -> nn.Module:
    return RandomRot90(p)


VOLUME_AUGMENTATIONS = {
    "rotate": (_rotate, "random rotation about the grid's centre, uniform over orientations (or up to `degrees`)"),
    "rot90": (_rot90, "one of the cube's 24 orientations, exact"),
}
"""The batch augmentations for volumes, by name, as `striate.data.augment.AUGMENTATIONS` for images."""


# --- Files ------------------------------------------------------------------------------------------------------------

def read_xyz(path: str | Path) -> tuple[list[str], np.ndarray]:
    """An XYZ file: the atom count, a comment line, then `element x y z` per atom -> symbols and `(A, 3)` coords."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"XYZ file not found: expected a file at {path}, found {found_at(path)} there.")
    lines = path.read_text(errors="replace").splitlines()
    try:
        count = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise DataError(f"XYZ file {path} starts with {lines[0][:40] if lines else ''!r}: expected the number of "
                        "atoms on its first line.") from None
    rows = [line.split() for line in lines[2:2 + count]]
    if len(rows) != count or any(len(row) < 4 for row in rows):
        raise DataError(f"XYZ file {path} announces {count} atoms but holds {len(rows)} atom lines: expected "
                        "`element x y z` on each.")
    elements = [row[0].capitalize() for row in rows]
    try:
        coords = np.array([[float(v) for v in row[1:4]] for row in rows], dtype=np.float64).reshape(-1, 3)
    except ValueError as error:
        raise DataError(f"XYZ file {path} has a coordinate that is not a number ({error}).") from None
    return elements, coords


def read_points(path: str | Path, points: int = 2048, seed: int = 0) -> np.ndarray:
    """A point cloud `(P, 3)` from `.npy` / `.pts` (x y z per line), or points sampled on an `.obj` / `.off` mesh."""
    path = Path(path)
    if path.suffix == ".npy":
        return _coordinates(np.load(path, allow_pickle=False))
    text = path.read_text(errors="replace").splitlines()
    if path.suffix == ".pts":
        return _coordinates([line.split()[:3] for line in text if line.strip() and not line.startswith("#")])
    vertices, faces = (_read_obj if path.suffix == ".obj" else _read_off)(text, path)
    return sample_surface(vertices, faces, points, seed) if len(faces) else _coordinates(vertices)


def _read_obj(lines: list[str], path: Path) -> tuple[list, list]:
    vertices, faces = [], []
    for line in lines:
        parts = line.split()
        if parts[:1] == ["v"]:
            vertices.append(parts[1:4])
        elif parts[:1] == ["f"]:
            corners = [int(p.split("/")[0]) - 1 for p in parts[1:]]  # 1-based, "v/vt/vn"
            faces += [[corners[0], corners[i], corners[i + 1]] for i in range(1, len(corners) - 1)]  # fan
    return _coordinates(vertices), faces


def _read_off(lines: list[str], path: Path) -> tuple[list, list]:
    rows = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    if not rows or not rows[0][0].startswith("OFF"):
        raise DataError(f"OFF file {path} does not start with OFF: expected an OFF mesh.")
    header = rows[0][1:] or rows.pop(1)  # "OFF V F E" on one line, or the counts on the next
    counts = [int(v) for v in header[:2]]
    body = rows[1:]
    vertices = body[:counts[0]]
    faces = []
    for row in body[counts[0]:counts[0] + counts[1]]:
        corners = [int(v) for v in row[1:1 + int(row[0])]]
        faces += [[corners[0], corners[i], corners[i + 1]] for i in range(1, len(corners) - 1)]
    return _coordinates([v[:3] for v in vertices]), faces


# --- Loaders ----------------------------------------------------------------------------------------------------------

def _number(value, name: str, kind=float):
    """An option that comes as text from `NAME?key=value` and as a number from YAML."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or (kind is int and str(value).strip() not in (str(number), f"{number}.0")):
        raise ConfigError(f"Invalid `{name}`: expected a{' whole' if kind is int else ''} number, received {value!r}.")
    return number


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes"):
        return True
    if str(value).lower() in ("0", "false", "no"):
        return False
    raise ConfigError(f"Invalid `{name}`: expected true or false, received {value!r}.")


@register_dataset("volumes", location="PATH", kinds="volume, class | multilabel | real",
                  description="volumes (N, C, D, H, W): an .npz with X and y, or a folder of .xyz atoms (one channel "
                              "per element, Gaussian densities) or point clouds/meshes (.npy .pts .obj .off, "
                              "occupancy) with class sub-folders or labels=CSV; options size, resolution, sigma, "
                              "elements, points, target")
def load_volumes(location: str, target: str = "auto", labels: str | None = None, size: int | str = 24,
                 resolution: float | str | None = None, sigma: float | str = 0.8, elements: str | None = None,
                 points: int | str = 2048) -> Dataset:
    path = Path(location)
    if path.suffix == ".npz" or path.is_file():
        return _volumes_npz(path, target)
    if not path.is_dir():
        raise DataError(f"Volumes not found: expected an .npz file or a folder at {path}, found {found_at(path)} "
                        "there.")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in POINT_SUFFIXES | {".xyz"} and p.is_file())
    if not files:
        raise DataError(f"Folder {path} holds no volume sources: expected .xyz atom files or .npy/.pts/.obj/.off "
                        "point clouds and meshes.")
    kinds = {p.suffix.lower() == ".xyz" for p in files}
    if len(kinds) > 1:
        raise DataError(f"Folder {path} mixes .xyz atom files with point clouds: expected one kind of source.")
    size = _number(size, "size", int)
    if kinds == {True}:
        voxel = {"kind": "atoms", "size": size, "resolution": _number(resolution or 0.8, "resolution"),
                 "sigma": _number(sigma, "sigma"), "elements": _elements(elements, files)}
        x = torch.stack([_from_file(p, voxel) for p in files])
    else:
        voxel = {"kind": "occupancy", "size": size, "points": _number(points, "points", int),
                 "resolution": None if resolution is None else _number(resolution, "resolution")}
        x = torch.stack([_from_file(p, voxel) for p in files])
    y, classes, kind = _folder_targets(path, files, labels, target)
    return Dataset(x, y, classes, name=path.name, input_kind="volume", target_kind=kind,
                   meta={"voxelizer": voxel, "files": [str(p) for p in files]})


def _from_file(path: Path, voxel: dict) -> torch.Tensor:
    """One source file voxelised by the `voxel` settings; errors name the file."""
    try:
        if voxel["kind"] == "atoms":
            return voxelize(*read_xyz(path), channels=voxel["elements"], size=voxel["size"],
                            resolution=voxel["resolution"], sigma=voxel["sigma"])
        return occupancy(read_points(path, voxel["points"]), size=voxel["size"], resolution=voxel["resolution"])
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def _elements(elements: str | None, files: list[Path]) -> list[str]:
    if elements:
        return [e.strip() for e in str(elements).split(",") if e.strip()]
    found = {e for p in files for e in read_xyz(p)[0]}
    unknown = sorted(found - set(PERIODIC_TABLE))
    if unknown:
        raise DataError(f"Unknown element `{unknown[0]}` in the .xyz files: expected chemical symbols up to Xe.")
    return [e for e in PERIODIC_TABLE if e in found]


def _folder_targets(root: Path, files: list[Path], labels: str | None, target: str):
    from striate.data.tabular import folder_targets

    csv_path = labels or (root / "labels.csv" if (root / "labels.csv").is_file() else None)
    if csv_path is not None:
        return folder_targets(files, str(csv_path), target)
    names = [p.parent.relative_to(root).as_posix() for p in files]
    if any(name == "." for name in names):
        raise DataError(f"Folder {root} has volume sources outside class sub-folders: expected one sub-folder per "
                        "class, or labels=CSV with a file column.")
    classes = sorted(set(names), key=label_order)
    return torch.tensor([classes.index(n) for n in names], dtype=torch.int64), classes, "class"


def _volumes_npz(path: Path, target: str) -> Dataset:
    from striate.data.tabular import _check_target, _read_npz, _targets

    arrays = _read_npz(path)
    x = arrays["X"]
    if x.ndim not in (4, 5) or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"NPZ file {path} has X of shape {x.shape} and dtype {x.dtype}: expected numeric volumes "
                        "(N, C, D, H, W), or (N, D, H, W) for one channel.")
    x = x[:, None] if x.ndim == 4 else x  # (N, D, H, W) -> (N, 1, D, H, W)
    names = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    y, classes, kind = _targets(arrays["y"], _check_target(target, arrays["y"]), names, str(path))
    values = torch.from_numpy(np.ascontiguousarray(x if x.dtype == np.uint8 else x.astype(np.float32)))
    if values.is_floating_point() and not bool(torch.isfinite(values).all()):
        raise DataError(f"NPZ file {path} has NaN or infinite voxels: expected finite values.")
    return Dataset(values, y, classes, name=path.stem, input_kind="volume", target_kind=kind)


def volume_inputs(path: str | Path, info: dict) -> np.ndarray:
    """What `striate predict` reads for a volume run: `.npy` `(C, D, H, W)` / `(N, C, D, H, W)` voxels, or a source
    file voxelised as the run's training data was (`info["voxelizer"]`) -> `(N, C, D, H, W)`."""
    path, voxel = Path(path), info.get("voxelizer") or {}
    if not path.is_file():
        raise DataError(f"Volume not found: expected a file at {path}, found {found_at(path)} there.")
    if (path.suffix == ".xyz" and voxel.get("kind") == "atoms") or (
            path.suffix in POINT_SUFFIXES - {".npy"} and voxel.get("kind") == "occupancy"):
        return _from_file(path, voxel)[None].numpy()
    if path.suffix != ".npy":
        raise DataError(f"Invalid volume file {path.name}: expected a .npy array (C, D, H, W) or (N, C, D, H, W)"
                        f"{' or an .xyz file' if voxel.get('kind') == 'atoms' else ''}.")
    array = np.load(path, allow_pickle=False)
    if array.ndim not in (4, 5):
        raise DataError(f"Invalid volume {path.name} of shape {array.shape}: expected (C, D, H, W) or "
                        "(N, C, D, H, W).")
    return array if array.ndim == 5 else array[None]


# --- The synthetic set: near or far in 3-D ----------------------------------------------------------------------------

SHAPES3D_CLASSES = ["near", "far"]
NEAR, FAR = (2.5, 4.5), (6.5, 9.0)
"""The blobs' 3-D distance in voxels for each class of `shapes3d`, uniform within the range."""


@register_dataset("shapes3d", kinds="volume, class",
                  description="seeded synthetic volumes: two blobs in two channels, `near` when they are 2.5-4.5 "
                              "voxels apart in 3-D, `far` when 6.5-9; same counts in every volume, depth decides; "
                              "options samples, size, seed")
def _shapes3d(location: None, samples: int | str = 2000, size: int | str = 16, seed: int | str = 0) -> Dataset:
    return make_shapes3d(_number(samples, "samples", int), _number(size, "size", int), _number(seed, "seed", int))


def make_shapes3d(samples: int = 2000, size: int = 16, seed: int = 0) -> Dataset:
    """Volumes `(N, 2, size, size, size)`, one Gaussian blob (sigma 1 voxel) per channel, and balanced classes:
    0 `near` (the blobs' centres 2.5 to 4.5 voxels apart) or 1 `far` (6.5 to 9).

    The direction between the blobs is uniform over the sphere, so every volume has the same total density per
    channel (counts tell nothing) and a projection along any axis shrinks distances by an unknown factor (a far pair
    seen along its axis looks near): only the 3-D arrangement decides the label.
    """
    if size < 16:
        raise ConfigError(f"Invalid `size` for shapes3d: expected at least 16 voxels a side (whole blobs up to 9 "
                          f"apart in any direction), received {size}.")
    rng = np.random.default_rng(seed)
    volumes, labels = [], []
    half = (size - 1) / 2 - 2.5  # centres stay 2.5 voxels inside the faces: each blob whole
    for _ in range(samples):
        label = int(rng.integers(2))
        distance = rng.uniform(*NEAR if label == 0 else FAR)
        direction = rng.normal(size=3)
        direction *= distance / np.linalg.norm(direction)
        low, high = np.maximum(-half, -half - direction), np.minimum(half, half - direction)  # both centres inside
        a = rng.uniform(low, high)
        volumes.append(voxelize(["A", "B"], [a, a + direction], channels=("A", "B"), size=size, resolution=1.0,
                                sigma=1.0, center=(0.0, 0.0, 0.0)))
        labels.append(label)
    return Dataset(torch.stack(volumes), torch.tensor(labels, dtype=torch.int64), list(SHAPES3D_CLASSES),
                   name="shapes3d", input_kind="volume")


# --- The molecular set: a conformer's shape from its voxelised atoms --------------------------------------------------

CORES = ["c1ccc({})cc1{}", "c1cc({})ccc1{}", "c1c({})cccc1{}", "c1cc({})ncc1{}", "C1CCC({})CC1{}", "{}CC{}",
         "{}CCCC{}", "{}C(=O)N{}", "{}OCCO{}", "{}N1CCN({})CC1", "c1ccc2cc({})ccc2c1{}", "c1cc2ccc({})cc2cc1{}",
         "{}C(C)(C){}", "c1csc({})c1{}", "c1cc({})oc1{}", "{}C1CC1{}", "{}/C=C/{}", "{}C#C{}", "O=C({})N{}",
         "{}S(=O)(=O){}"]
"""Cores with two attachment points (ortho, meta and para rings, chains, fused rings): the same atoms in different
arrangements, so element counts cannot tell their shapes apart."""
SUBSTITUENTS = ["", "C", "CC", "CCC", "C(C)C", "O", "OC", "N", "NC", "F", "Cl", "C#N", "C(=O)O", "C(F)(F)F",
                "CCO", "C(=O)N", "SC", "CCCC", "OCC", "N(C)C"]
DESCRIPTORS = ("asphericity", "npr1", "npr2", "radius_of_gyration", "spherocity")


def molecule_smiles(count: int, seed: int = 0) -> list[str]:
    """`count` distinct valid SMILES (or all there are), a seeded draw of core x substituent x substituent."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    rng = np.random.default_rng(seed)
    combos = [(c, a, b) for c in range(len(CORES)) for a in range(len(SUBSTITUENTS)) for b in range(len(SUBSTITUENTS))]
    seen, smiles = set(), []
    for k in rng.permutation(len(combos)):
        core, a, b = combos[k]
        mol = Chem.MolFromSmiles(CORES[core].format(*(f"({s})" if s else "" for s in
                                                      (SUBSTITUENTS[a], SUBSTITUENTS[b]))).replace("()", ""))
        canonical = Chem.MolToSmiles(mol) if mol is not None else None
        if canonical and canonical not in seen and mol.GetNumHeavyAtoms() >= 4:
            seen.add(canonical)
            smiles.append(canonical)
        if len(smiles) == count:
            break
    return smiles


def conformer(smiles: str, seed: int = 0):
    """One RDKit conformer of `smiles` (ETKDG v3, seeded), hydrogens removed after embedding; None if it fails."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = seed
    if AllChem.EmbedMolecule(mol, parameters) != 0:
        return None
    return Chem.RemoveHs(mol)


def shape_descriptor(mol, name: str) -> float:
    """A shape descriptor of the molecule's conformer, computed by RDKit (heavy atoms, masses as weights)."""
    from rdkit.Chem import rdMolDescriptors as D

    functions = {"asphericity": D.CalcAsphericity, "npr1": D.CalcNPR1, "npr2": D.CalcNPR2,
                 "radius_of_gyration": D.CalcRadiusOfGyration, "spherocity": D.CalcSpherocityIndex}
    return float(functions[name](mol))


@register_dataset("molecules3d", kinds="volume, real",
                  description="small molecules enumerated from SMILES, one RDKit conformer each, voxelised by element "
                              "(C N O F S Cl); target: a shape descriptor of the conformer (asphericity, npr1, npr2, "
                              "radius_of_gyration, spherocity); options samples, size, resolution, sigma, target, seed")
def _molecules3d(location: None, samples: int | str = 400, size: int | str = 24, resolution: float | str = 0.8,
                 sigma: float | str = 0.8, target: str = "asphericity", seed: int | str = 0) -> Dataset:
    return make_molecules3d(_number(samples, "samples", int), _number(size, "size", int),
                            _number(resolution, "resolution"), _number(sigma, "sigma"), target,
                            _number(seed, "seed", int))


def make_molecules3d(samples: int = 400, size: int = 24, resolution: float = 0.8, sigma: float = 0.8,
                     target: str = "asphericity", seed: int = 0) -> Dataset:
    """Volumes `(N, 6, size, size, size)` of conformers, each centred on its centroid and turned to a random
    orientation (seeded), and the conformer's `target` descriptor `(N,)`.

    `meta["smiles"]` lists the molecules. Molecules whose conformer fails or does not fit the grid are left out.
    """
    if target not in DESCRIPTORS:
        raise ConfigError(f"Invalid `target` for molecules3d: expected one of {', '.join(DESCRIPTORS)}, received "
                          f"{target!r}.")
    try:
        import rdkit  # noqa: F401
    except ImportError:
        raise ConfigError("molecules3d needs RDKit: install it with `pip install rdkit`.") from None
    generator = torch.Generator().manual_seed(seed)
    volumes, values, kept = [], [], []
    half = size * resolution / 2 - 1.5 * sigma
    for smiles in molecule_smiles(samples * 2, seed):
        mol = conformer(smiles, seed)
        if mol is None:
            continue
        xyz = mol.GetConformer().GetPositions()  # (A, 3) Angstrom
        xyz = (xyz - xyz.mean(axis=0)) @ random_rotations(1, generator)[0].double().numpy().T
        if np.abs(xyz).max() > half:
            continue
        elements = [atom.GetSymbol() for atom in mol.GetAtoms()]
        volumes.append(voxelize(elements, xyz, channels=MOLECULE_ELEMENTS, size=size, resolution=resolution,
                                sigma=sigma, center=(0.0, 0.0, 0.0)))
        values.append(shape_descriptor(mol, target))
        kept.append(smiles)
        if len(kept) == samples:
            break
    voxel = {"kind": "atoms", "size": size, "resolution": resolution, "sigma": sigma,
             "elements": list(MOLECULE_ELEMENTS)}
    return Dataset(torch.stack(volumes), torch.tensor(values, dtype=torch.float32), [target], name="molecules3d",
                   input_kind="volume", target_kind="real",
                   meta={"smiles": kept, "voxelizer": voxel})


def write_xyz(path: str | Path, elements: Sequence[str], coords, comment: str = "") -> None:
    """An XYZ file of the atoms (the inverse of `read_xyz`)."""
    rows = [f"{e} {x:.5f} {y:.5f} {z:.5f}" for e, (x, y, z) in zip(elements, np.asarray(coords), strict=True)]
    Path(path).write_text("\n".join([str(len(rows)), comment, *rows]) + "\n")


__all__ = ["DESCRIPTORS", "MOLECULE_ELEMENTS", "VOLUME_AUGMENTATIONS", "RandomRot90", "RandomRotation3d",
           "conformer", "grid_centres", "load_volumes", "make_molecules3d", "make_shapes3d", "molecule_smiles",
           "occupancy", "random_rotations", "read_points", "read_xyz", "sample_surface", "shape_descriptor",
           "volume_inputs", "voxelize", "write_xyz"]
