"""``street-synth``: procedurally generated street scenes with CARLA's 13 classes.

A dataset that needs nothing but numpy and OpenCV, for trying models on a
driving-like, strongly imbalanced label distribution::

    ds = open_dataset("street-synth")
    image, mask, sample_id = ds.load("train", "scene_0000")
    # image: 192x256x3 uint8, mask: 192x256 int64 in 0..12 (CARLA class order)

Each scene is a road in perspective seen from a car: sky, facades (buildings
with windows, walls, hedges and trees, fences) along both sides, sidewalks,
road and road lines, then vehicles, pedestrians, poles with traffic signs and
other street furniture, painted far to near. The photo is rendered from
per-class (and per-object) colours with low-frequency and grain noise, window
and tile patterns, cast shadows, distance haze, blur and sensor noise: a model
has to learn appearance, the label palette never appears in the image.

Scene ``i`` depends only on ``(seed, i)`` (``np.random.default_rng([seed, i])``),
so the dataset is identical on every machine. As in real driving data (CARLA,
Cityscapes), road, buildings and sky dominate while pedestrians, poles, traffic
signs, fences, road lines and "other" each cover well under 1% of the pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from segdash.cachekey import cache_key
from segdash.data.base import Sample
from segdash.data.builtin._rows import RowDataset
from segdash.data.formats.carla import CARLA_CLASSES, CARLA_COLORS
from segdash.data.options import as_int, as_seed, reject_unknown_options
from segdash.data.registry import register_builtin
from segdash.fsutil import atomic_dir, cache_dir

#: Bump when the generator changes: the cache file name carries it.
VERSION = "2"
HEIGHT, WIDTH = 192, 256
SPLIT_SHARES = (0.7, 0.15, 0.15)

#: CARLA's 13 class names and label colours, shared with the carla format.
CLASSES, COLORS = CARLA_CLASSES, CARLA_COLORS
(UNLABELED, BUILDING, FENCE, OTHER, PEDESTRIAN, POLE, ROAD_LINE,
 ROAD, SIDEWALK, VEGETATION, VEHICLE, WALL, TRAFFIC_SIGN) = range(13)  # fmt: skip

# Surface colours (RGB, 0..255) the renderer picks from; deliberately not the label palette.
BUILDING_PAINTS = ((196, 180, 150), (150, 90, 70), (120, 120, 125), (215, 205, 185), (170, 140, 110), (95, 95, 100))
WALL_PAINTS = ((165, 160, 150), (130, 125, 118), (185, 175, 160))
FENCE_PAINTS = ((60, 55, 50), (110, 80, 50), (150, 150, 150))
VEGETATION_PAINTS = ((60, 95, 40), (85, 110, 45), (45, 75, 35), (100, 120, 60))
CAR_PAINTS = (
    (235, 235, 235), (25, 25, 30), (160, 160, 165), (170, 30, 30), (30, 60, 140), (40, 80, 50), (200, 170, 60),
)  # fmt: skip
CLOTHES = ((30, 30, 40), (60, 70, 120), (150, 40, 40), (200, 200, 200), (90, 60, 40), (40, 100, 80), (220, 180, 60))
SKIN = ((230, 190, 160), (190, 140, 100), (120, 80, 55))
SIGN_PAINTS = ((200, 30, 30), (30, 70, 170), (235, 200, 30), (240, 240, 240))
OTHER_PAINTS = ((40, 90, 50), (90, 90, 95), (170, 120, 40), (60, 60, 140))

SOURCE = "Procedurally generated street scenes (segdash), seeded and deterministic; CARLA's 13 class names and colours."
DESCRIPTION = (
    "Synthetic road scenes rendered with numpy and OpenCV: perspective road with lane markings, sidewalks, "
    "facades (buildings with windows, walls, hedges, fences, trees), vehicles, pedestrians, poles with traffic "
    "signs and street furniture, under varied sky, lighting, shadows and haze, with texture and sensor noise. "
    "Class names, order and label colours follow the CARLA simulator's semantic segmentation (as in the "
    "Lyft/Udacity CARLA dataset), so models and tools can be tried on a driving-like, strongly imbalanced label "
    "distribution without downloading anything. Scene i depends only on (seed, i). Not real photographs."
)


FULL = (slice(None), slice(None))


class _Scene:
    """One scene being painted: label map, colour image and depth map, painted far to near."""

    def __init__(self, rng: np.random.Generator, height: int, width: int):
        self.rng = rng
        self.h, self.w = height, width
        self.labels = np.zeros((height, width), np.uint8)
        self.rgb = np.zeros((height, width, 3), np.float32)
        self.depth = np.zeros((height, width), np.float32)  # d: 0 far (horizon) .. 1 bottom row; sky 0
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.yy, self.xx = yy, xx
        self.fine = rng.standard_normal((height, width), dtype=np.float32)
        self.coarse = _smooth_noise(rng, height, width, 24)
        self.mid = _smooth_noise(rng, height, width, 6)

    def window(self, y0: float, y1: float, x0: float, x1: float) -> tuple[slice, slice] | None:
        """Slices of the pixel box [y0, y1) x [x0, x1) clipped to the image, None when empty."""
        ys = slice(max(int(np.floor(y0)), 0), min(int(np.ceil(y1)) + 1, self.h))
        xs = slice(max(int(np.floor(x0)), 0), min(int(np.ceil(x1)) + 1, self.w))
        return (ys, xs) if ys.start < ys.stop and xs.start < xs.stop else None

    def surface(self, color, coarse: float = 0.08, mid: float = 0.04, fine: float = 0.05, win=FULL) -> np.ndarray:
        """(h,w,3) float32 textured surface of a base colour over the window ``win``."""
        factor = 1.0 + coarse * self.coarse[win] + mid * self.mid[win] + fine * self.fine[win]
        return np.asarray(color, np.float32)[None, None, :] * factor[:, :, None]

    def paint(self, mask: np.ndarray, cls: int, color: np.ndarray, depth, win=FULL) -> None:
        """Paint class ``cls`` where ``mask`` (bool, window-sized) is set.

        color: (3,) or window-sized (h,w,3); depth: scalar or window-sized (h,w).
        """
        labels, rgb, depths = self.labels[win], self.rgb[win], self.depth[win]
        labels[mask] = cls
        rgb[mask] = color if np.ndim(color) == 1 else color[mask]
        depths[mask] = depth if np.ndim(depth) == 0 else depth[mask]

    def pick(self, palette, jitter: float = 18.0) -> np.ndarray:
        base = np.asarray(palette[self.rng.integers(len(palette))], np.float32)
        return np.clip(base + self.rng.normal(0, jitter, 3), 0, 255)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """(H,W) float32 smooth noise, roughly in -1..1, with features about ``cell`` pixels wide."""
    import cv2

    grid = rng.uniform(-1.0, 1.0, (height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


@dataclass(frozen=True)
class _Road:
    """Camera and road geometry of one scene.

    ``d`` is 0 at the horizon and 1 at the bottom row (0 above the horizon); ``lat`` is the
    position across the road in road half-widths: ``|lat| < 1`` road, ``1 .. 1 + sidewalk`` sidewalk;
    ``dist`` is the distance along the road in units of the bottom row's. All three are (H, W).
    """

    h: int
    horizon: float
    vanish_x: float
    bottom_x: float
    road_half: float
    sidewalk: float
    px_per_m: float  # at d = 1: the road is 12 m wide
    d: np.ndarray
    lat: np.ndarray
    dist: np.ndarray

    @property
    def ground(self) -> np.ndarray:
        return self.d > 0

    def row_of(self, depth: float) -> float:
        return self.horizon + depth * (self.h - self.horizon)

    def x_of(self, depth: float, lateral: float) -> float:
        return self.vanish_x + depth * (self.bottom_x - self.vanish_x) + lateral * self.road_half * depth


def _road_geometry(s: _Scene) -> _Road:
    rng, h, w, yy, xx = s.rng, s.h, s.w, s.yy, s.xx
    horizon = rng.uniform(0.36, 0.5) * h
    vanish_x = w * (0.5 + rng.uniform(-0.15, 0.15))
    bottom_x = w * (0.5 + rng.uniform(-0.2, 0.2))
    road_half = w * rng.uniform(0.4, 0.7)
    sidewalk = rng.uniform(0.25, 0.6)
    d = np.clip((yy - horizon) / (h - horizon), 0.0, None)
    centre = vanish_x + d * (bottom_x - vanish_x)
    lat = np.where(d > 0, (xx - centre) / np.maximum(d * road_half, 1e-6), 0.0)
    dist = 1.0 / np.maximum(d, 1e-3)
    return _Road(h, horizon, vanish_x, bottom_x, road_half, sidewalk, road_half / 6.0, d, lat, dist)


def render_scene(seed: int, index: int, height: int = HEIGHT, width: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Scene ``index`` of ``seed`` -> (image HxWx3 uint8, labels HxW uint8 in CARLA class order).

    Painted far to near: sky, facades, ground, objects, then light, haze and sensor noise. Every
    step draws from the one generator in this order, so a scene depends only on ``(seed, index)``.
    """
    rng = np.random.default_rng([seed, index])
    s = _Scene(rng, height, width)
    road = _road_geometry(s)
    haze_color = _paint_sky(s, road.horizon)
    sun_side = rng.choice((-1, 1))
    for side in (-1, 1):
        _paint_facades(s, road, side, sun_side)
    _paint_ground(s, road)
    for depth, kind, lateral in _place_objects(rng, road.sidewalk):
        OBJECT_PAINTERS[kind](s, road.row_of(depth), road.x_of(depth, lateral), depth * road.px_per_m, depth, lateral)
    return _expose(s, road, sun_side, haze_color), s.labels


def _paint_sky(s: _Scene, horizon: float) -> np.ndarray:
    """Sky gradient plus clouds over the whole image (labels and depth stay unlabeled / 0); the haze colour."""
    rng = s.rng
    clear = rng.random() < 0.6
    top_sky = (np.array((70, 120, 200) if clear else (150, 155, 165)) + rng.normal(0, 10, 3)).astype(np.float32)
    low_sky = (np.array((185, 205, 230) if clear else (200, 200, 205)) + rng.normal(0, 8, 3)).astype(np.float32)
    t = np.clip(s.yy / max(horizon, 1.0), 0, 1)[:, :, None]
    s.rgb[:] = top_sky * (1 - t) + low_sky * t + (25 if clear else 12) * np.clip(s.coarse, 0, 1)[:, :, None]
    return low_sky


@dataclass(frozen=True)
class _Facade:
    """One segment of facade inside its window: where it is (mask), its height above the ground in metres
    (world_h), depth, distance along the road per column (dist, 1-D) and the light on its side (shade)."""

    win: tuple[slice, slice]
    mask: np.ndarray
    world_h: np.ndarray
    depth: np.ndarray
    dist: np.ndarray
    shade: float


def _paint_facades(s: _Scene, road: _Road, side: int, sun_side: int) -> None:
    """Segments of building, hedge, wall or fence along one side, standing on the sidewalk's outer edge."""
    rng, w = s.rng, s.w
    denom = road.bottom_x - road.vanish_x + side * (1 + road.sidewalk) * road.road_half
    cols = np.arange(w, dtype=np.float32)
    col_depth = (cols - road.vanish_x) / denom
    valid = col_depth > 1e-3
    col_depth = np.where(valid, col_depth, 1e-3)
    col_dist = 1.0 / col_depth
    ground_row = road.horizon + col_depth * (road.h - road.horizon)
    # Segments along the road: kind and height (metres) each.
    bounds, kinds, heights = [0.0], [], []
    while bounds[-1] < 60:
        bounds.append(bounds[-1] + rng.uniform(0.4, 2.5) * (1 + bounds[-1] / 8))
        kind = rng.choice(("building", "vegetation", "wall", "fence"), p=(0.58, 0.22, 0.12, 0.08))
        kinds.append(kind)
        heights.append(
            {"building": rng.uniform(7, 28), "vegetation": rng.uniform(3, 9), "wall": rng.uniform(1.8, 3.5),
             "fence": rng.uniform(3, 8)}[kind]  # a fence stands in front of a hedge
        )  # fmt: skip
    seg = np.clip(np.searchsorted(bounds, col_dist) - 1, 0, len(kinds) - 1)
    col_height = np.asarray(heights)[seg] * (1 + 0.25 * _smooth_noise(rng, 1, w, 8)[0] * (
        np.asarray(kinds)[seg] == "vegetation"))  # fmt: skip
    top_row = ground_row - col_height * road.px_per_m * col_depth
    shade = 1.0 if side == sun_side else 0.72
    for k, kind in enumerate(kinds):
        cols_k = np.nonzero(valid & (seg == k))[0]
        if cols_k.size == 0:
            continue
        c0, c1 = cols_k[0], cols_k[-1] + 1
        win = s.window(top_row[c0:c1].min(), ground_row[c0:c1].max(), c0, c1 - 1)
        if win is None:
            continue
        xs, yy_w = win[1], s.yy[win]
        mask = (seg[xs] == k)[None, :] & valid[xs][None, :] & (yy_w >= top_row[xs]) & (yy_w < ground_row[xs])
        world_h = (ground_row[xs] - yy_w) / (road.px_per_m * col_depth[xs])  # metres above the ground
        depth_w = np.broadcast_to(col_depth[xs][None, :], mask.shape)
        FACADE_PAINTERS[kind](s, _Facade(win, mask, world_h, depth_w, col_dist[xs], shade))


def _paint_building(s: _Scene, f: _Facade) -> None:
    """Wall paint with rows of windows, one row per storey."""
    rng = s.rng
    wall_rgb = s.surface(s.pick(BUILDING_PAINTS) * f.shade, 0.1, 0.05, 0.04, f.win)
    glass = s.surface(np.array((60, 75, 95)) * f.shade + rng.normal(0, 10, 3), 0.25, 0.1, 0.03, f.win)
    floor = rng.uniform(2.8, 3.6)
    spacing = rng.uniform(1.2, 2.5)
    storey = np.mod(f.world_h / floor, 1.0)
    window = (
        (storey > 0.35) & (storey < 0.8) & (f.world_h > 2.5)
        & (np.mod(f.dist * spacing, 1.0) < rng.uniform(0.35, 0.6))[None, :]
    )  # fmt: skip
    s.paint(f.mask, BUILDING, np.where(window[:, :, None], glass, wall_rgb), f.depth, f.win)


def _paint_wall(s: _Scene, f: _Facade) -> None:
    s.paint(f.mask, WALL, s.surface(s.pick(WALL_PAINTS) * f.shade, 0.15, 0.12, 0.08, f.win), f.depth, f.win)


def _paint_hedge(s: _Scene, f: _Facade) -> None:
    leaves = s.surface(s.pick(VEGETATION_PAINTS) * f.shade, 0.25, 0.35, 0.3, f.win)
    s.paint(f.mask, VEGETATION, leaves, f.depth, f.win)


def _paint_fence(s: _Scene, f: _Facade) -> None:
    """A fence of bars and two rails in front of a hedge."""
    _paint_hedge(s, f)
    rng = s.rng
    fence_h = rng.uniform(1.0, 2.0)
    bars = (np.mod(f.dist * rng.uniform(8, 16), 1.0) < 0.3)[None, :]
    rails = (np.abs(f.world_h - fence_h * 0.92) < 0.08) | (np.abs(f.world_h - fence_h * 0.3) < 0.08)
    fence = f.mask & (f.world_h < fence_h) & (bars | rails)
    fence_rgb = s.surface(s.pick(FENCE_PAINTS) * f.shade, 0.1, 0.1, 0.08, f.win)
    s.paint(fence, FENCE, fence_rgb, f.depth, f.win)


#: facade kind -> painter; the kinds are the segment kinds drawn in ``_paint_facades``.
FACADE_PAINTERS = {"building": _paint_building, "wall": _paint_wall, "vegetation": _paint_hedge, "fence": _paint_fence}


def _paint_ground(s: _Scene, road: _Road) -> None:
    """Road with lane markings, sidewalks with tiles and a curb (only rows below the horizon)."""
    rng = s.rng
    gw = s.window(road.horizon, s.h, 0, s.w)
    g_d, g_lat, g_dist = road.d[gw], road.lat[gw], road.dist[gw]
    g_abs = np.abs(g_lat)
    on_ground = g_d > 0
    asphalt = s.surface(np.array((72, 72, 76)) + rng.normal(0, 8, 3), 0.12, 0.06, 0.1, gw)
    s.paint(on_ground & (g_abs < 1), ROAD, asphalt, g_d, gw)
    paver = s.pick(((160, 158, 150), (175, 150, 135), (130, 130, 128)), 10)
    tiles = (np.mod(g_dist * 6, 1.0) < 0.08) | (np.mod(g_abs * 4, 1.0) < 0.06)
    pavement = s.surface(paver, 0.08, 0.05, 0.06, gw) * np.where(tiles, np.float32(0.82), np.float32(1.0))[:, :, None]
    curb = (g_abs < 1.04)[:, :, None]
    pavement = np.where(curb, s.surface((190, 190, 185), 0.05, 0.05, 0.05, gw), pavement)
    s.paint(on_ground & (g_abs >= 1) & (g_abs < 1 + road.sidewalk), SIDEWALK, pavement, g_d, gw)
    line_color = np.array((235, 235, 225) if rng.random() < 0.75 else (225, 190, 60), np.float32)
    half_width = rng.uniform(0.012, 0.02)
    lines = on_ground & (np.abs(g_lat - rng.uniform(-0.05, 0.05)) < half_width) & (
        np.mod(g_dist * rng.uniform(0.8, 1.6), 1.0) < 0.45)  # fmt: skip
    if rng.random() < 0.4:  # solid edge lines
        lines |= on_ground & (np.abs(g_abs - 0.94) < half_width * 0.8)
    s.paint(lines, ROAD_LINE, s.surface(line_color, 0.15, 0.1, 0.12, gw), g_d, gw)


def _place_objects(rng: np.random.Generator, sidewalk: float) -> list[tuple[float, str, float]]:
    """``(depth, kind, lateral)`` of the scene's objects, far to near so that nearer ones occlude."""
    objects: list[tuple[float, str, float]] = []
    for _ in range(rng.integers(0, 5)):
        lane = rng.choice((-0.5, 0.5, -0.82, 0.82), p=(0.35, 0.35, 0.15, 0.15))
        objects.append((rng.uniform(0.1, 1.0), "vehicle", lane + rng.normal(0, 0.05)))
    for _ in range(rng.integers(0, 5)):
        depth, side = rng.uniform(0.12, 1.0), rng.choice((-1, 1))
        objects.append((depth, "pedestrian", side * (1 + sidewalk * rng.uniform(0.2, 0.8))))
    for _ in range(rng.integers(1, 5)):
        objects.append((rng.uniform(0.1, 0.9), "pole", rng.choice((-1, 1)) * (1 + sidewalk * 0.8)))
    for _ in range(rng.integers(0, 3)):
        objects.append((rng.uniform(0.12, 0.9), "other", rng.choice((-1, 1)) * (1 + sidewalk * rng.uniform(0.3, 0.9))))
    for _ in range(rng.integers(0, 3)):
        objects.append((rng.uniform(0.1, 0.8), "tree", rng.choice((-1, 1)) * (1 + sidewalk * 0.9)))
    return sorted(objects, key=lambda o: o[0])


def _expose(s: _Scene, road: _Road, sun_side: int, haze_color: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 photo: a cast shadow over part of the ground, haze with distance, exposure, blur, noise."""
    import cv2

    rng = s.rng
    if rng.random() < 0.5:
        edge = rng.uniform(-1.5, 0.5) * sun_side * -1
        shadow = road.ground & ((road.lat < edge) if sun_side > 0 else (road.lat > -edge)) & (s.labels != UNLABELED)
        s.rgb[shadow] *= 0.62
    labelled = s.labels != UNLABELED
    haze = (np.float32(rng.uniform(0.25, 0.6)) * (1 - np.clip(s.depth * 2.5, 0, 1)) ** 2 * labelled)[:, :, None]
    rgb = s.rgb * (1 - haze) + haze_color * haze
    rgb = rgb * np.float32(rng.uniform(0.75, 1.2)) + np.float32(rng.normal(0, 6))
    rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.5, 0.9))
    rgb = rgb + rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 4.0))
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --- objects: each painter draws one object standing at (x, base_row); ``m`` is pixels per metre at its
# distance. Each draws inside its bounding box only (``s.window``), which keeps a scene at a few milliseconds.
def _paint_vehicle(s: _Scene, base_row: float, x: float, m: float, depth: float, lateral: float) -> None:
    """A car (or, 15% of the time, a truck): body, cabin with windows, wheels and rear lamps."""
    rng = s.rng
    truck = rng.random() < 0.15
    width = m * (rng.uniform(2.3, 2.5) if truck else rng.uniform(1.7, 1.9))
    height = m * (rng.uniform(2.8, 3.4) if truck else rng.uniform(1.35, 1.6))
    win = s.window(base_row - height, base_row, x - width / 2, x + width / 2)
    if win is None:
        return
    yy, xx = s.yy[win], s.xx[win]
    body_top = base_row - height * (0.9 if truck else 0.55)
    body = (np.abs(xx - x) < width / 2) & (yy >= body_top) & (yy < base_row - 0.12 * m)
    cabin_w = width * (0.95 if truck else rng.uniform(0.72, 0.85))
    cabin = (np.abs(xx - x) < cabin_w / 2) & (yy >= base_row - height) & (yy < body_top + 1)
    wheels = (
        ((np.abs(xx - (x - width * 0.36)) < width * 0.1) | (np.abs(xx - (x + width * 0.36)) < width * 0.1))
        & (yy >= base_row - 0.45 * m) & (yy < base_row)
    )  # fmt: skip
    paint = s.surface(s.pick(CAR_PAINTS, 12), 0.05, 0.03, 0.03, win)
    shine = np.clip(1.15 - 0.3 * (yy - body_top) / max(height, 1.0), 0.8, 1.15)[:, :, None]
    glass = s.surface((35, 40, 50), 0.2, 0.05, 0.03, win)
    window_band = (yy > base_row - height * 0.95) & (np.abs(xx - x) < cabin_w * 0.42) & (not truck)
    car_rgb = np.where((cabin & window_band)[:, :, None], glass, paint * shine)
    lamps = (
        (yy > body_top + 0.2 * m) & (yy < body_top + 0.4 * m)
        & (np.abs(np.abs(xx - x) - width * 0.4) < width * 0.07)
    )  # fmt: skip
    car_rgb = np.where(lamps[:, :, None], np.array((200, 30, 25), np.float32), car_rgb)
    s.paint(body | cabin, VEHICLE, car_rgb, depth, win)
    s.paint(wheels, VEHICLE, s.surface((20, 20, 22), 0.1, 0.1, 0.1, win), depth, win)


def _paint_pedestrian(s: _Scene, base_row: float, x: float, m: float, depth: float, lateral: float) -> None:
    """Two legs, an elliptic torso and a round head."""
    tall = m * s.rng.uniform(1.55, 1.9)
    win = s.window(base_row - tall, base_row, x - 0.15 * tall - 1, x + 0.15 * tall + 1)
    if win is None:
        return
    yy, xx = s.yy[win], s.xx[win]
    legs = (
        (yy < base_row) & (yy >= base_row - 0.48 * tall)
        & ((np.abs(xx - (x - 0.07 * tall)) < 0.045 * tall) | (np.abs(xx - (x + 0.07 * tall)) < 0.045 * tall))
    )  # fmt: skip
    torso = ((xx - x) / (0.13 * tall)) ** 2 + ((yy - (base_row - 0.68 * tall)) / (0.22 * tall)) ** 2 <= 1
    head = (xx - x) ** 2 + (yy - (base_row - 0.92 * tall)) ** 2 <= (0.075 * tall) ** 2 + 0.25
    s.paint(legs, PEDESTRIAN, s.surface(s.pick(CLOTHES), 0.05, 0.1, 0.08, win), depth, win)
    s.paint(torso, PEDESTRIAN, s.surface(s.pick(CLOTHES), 0.05, 0.1, 0.08, win), depth, win)
    s.paint(head, PEDESTRIAN, s.surface(s.pick(SKIN, 8), 0.03, 0.05, 0.05, win), depth, win)


def _paint_pole(s: _Scene, base_row: float, x: float, m: float, depth: float, lateral: float) -> None:
    """A metal pole, most with a round or square traffic sign near the top, on the road's side."""
    rng = s.rng
    tall = m * rng.uniform(4, 7)
    half = max(0.1 * m, 0.5)
    has_sign = rng.random() < 0.6
    size = m * rng.uniform(0.5, 0.8)
    win = s.window(base_row - tall, base_row, x - half - size * 1.2, x + half + size * 1.2)
    if win is None:
        return
    yy, xx = s.yy[win], s.xx[win]
    pole = (np.abs(xx - x) <= half) & (yy < base_row) & (yy >= base_row - tall)
    metal = s.pick(((110, 110, 110), (60, 65, 60), (150, 150, 145)), 8)
    s.paint(pole, POLE, s.surface(metal, 0.05, 0.05, 0.08, win), depth, win)
    if not has_sign:
        return
    cx = x - np.sign(lateral) * rng.choice((0.0, size * 0.6))
    cy = base_row - tall + size * rng.uniform(0.6, 1.5)
    if rng.random() < 0.5:
        face = (xx - cx) ** 2 + (yy - cy) ** 2 <= (size / 2) ** 2 + 0.25
    else:
        face = (np.abs(xx - cx) <= size / 2) & (np.abs(yy - cy) <= size / 2 * rng.uniform(0.6, 1.0))
    color = s.pick(SIGN_PAINTS, 10)
    rim = (xx - cx) ** 2 + (yy - cy) ** 2 <= (size / 3.2) ** 2
    face_rgb = s.surface((230, 230, 230), 0.02, 0.02, 0.05, win)
    sign_rgb = np.where(rim[:, :, None], s.surface(color, 0.03, 0.03, 0.05, win), face_rgb)
    s.paint(face, TRAFFIC_SIGN, sign_rgb, depth, win)


def _paint_other(s: _Scene, base_row: float, x: float, m: float, depth: float, lateral: float) -> None:
    """Street furniture: a box."""
    rng = s.rng
    width, tall = max(m * rng.uniform(0.5, 1.2), 1.0), max(m * rng.uniform(0.6, 1.3), 1.0)
    win = s.window(base_row - tall, base_row, x - width / 2, x + width / 2)
    if win is None:
        return
    yy, xx = s.yy[win], s.xx[win]
    box = (np.abs(xx - x) <= width / 2) & (yy < base_row) & (yy >= base_row - tall)
    s.paint(box, OTHER, s.surface(s.pick(OTHER_PAINTS), 0.1, 0.1, 0.1, win), depth, win)


def _paint_tree(s: _Scene, base_row: float, x: float, m: float, depth: float, lateral: float) -> None:
    """A trunk and a wobbly round crown."""
    rng = s.rng
    tall, crown = m * rng.uniform(4, 8), m * rng.uniform(1.5, 3.0)
    win = s.window(base_row - tall - crown, base_row, x - crown * 1.3, x + crown * 1.3)
    if win is None:
        return
    yy, xx = s.yy[win], s.xx[win]
    trunk = (np.abs(xx - x) <= max(0.15 * m, 0.5)) & (yy < base_row) & (yy >= base_row - tall + crown)
    wobble = 1 + 0.18 * s.mid[win]
    blob = ((xx - x) ** 2 + (yy - (base_row - tall + crown * 0.2)) ** 2) <= (crown * wobble) ** 2
    s.paint(trunk, VEGETATION, s.surface((80, 60, 40), 0.05, 0.1, 0.1, win), depth, win)
    s.paint(blob, VEGETATION, s.surface(s.pick(VEGETATION_PAINTS), 0.2, 0.35, 0.3, win), depth, win)


#: object kind -> painter; the kinds are the ones ``_place_objects`` places.
OBJECT_PAINTERS = {
    "vehicle": _paint_vehicle,
    "pedestrian": _paint_pedestrian,
    "pole": _paint_pole,
    "other": _paint_other,
    "tree": _paint_tree,
}


#: Scenes are rendered into memory at once (about 0.2 MB each): a bound keeps ``count=10**8`` from
#: asking for terabytes.
MAX_SCENES = 5000


def prepare_scenes(count: int, seed: int, progress=None) -> dict[str, np.ndarray]:
    """Render ``count`` scenes: images (N,H,W,3) uint8, masks (N,H,W) uint8, ids (N,) str."""
    images = np.empty((count, HEIGHT, WIDTH, 3), np.uint8)
    masks = np.empty((count, HEIGHT, WIDTH), np.uint8)
    for i in range(count):
        images[i], masks[i] = render_scene(seed, i)
        if progress is not None:
            progress(i + 1, count)
    return {"images": images, "masks": masks, "ids": np.asarray([f"scene_{i:04d}" for i in range(count)])}


@register_builtin("street-synth", "procedural street scenes, 13 CARLA classes, strongly imbalanced (300 images)")
class StreetSynth(RowDataset):
    """Synthetic street scenes: 192x256x3 uint8 images, 13 CARLA classes, 70/15/15 splits.

    Options: ``count`` (number of scenes, default 300, at least 3) and ``seed`` (default 0).
    Scenes ``0 .. 0.7*count`` are train, then val, then test.
    """

    name = "street-synth"
    classes = CLASSES
    colors = COLORS
    ignore_index = None
    in_channels = 3
    source = SOURCE
    description = DESCRIPTION
    #: -o KEY=VALUE options, shown by ``segdash datasets``.
    options_help = {"count": f"number of scenes (default 300, 3..{MAX_SCENES})", "seed": "generator seed (default 0)"}

    def __init__(self, count: int | str = 300, seed: int | str = 0, **unknown):
        reject_unknown_options("dataset 'street-synth'", unknown, self.options_help)
        self.count = as_int("count", count, minimum=3, maximum=MAX_SCENES)  # 3: one scene per split
        self.seed = as_seed(seed)
        key = cache_key("street-synth", VERSION, self.seed, self.count)
        self.cache_path = cache_dir("street-synth") / f"seed{self.seed}_n{self.count}-{key[:16]}"
        arrays = self._load_or_prepare()
        self._images, self._masks = arrays["images"], arrays["masks"]
        ids = [str(i) for i in arrays["ids"]]
        n_train = int(round(SPLIT_SHARES[0] * self.count))
        n_val = max(1, int(round(SPLIT_SHARES[1] * self.count)))
        n_train = min(n_train, self.count - n_val - 1)
        self.index_rows(ids, ["train"] * n_train + ["val"] * n_val + ["test"] * (self.count - n_train - n_val))

    def _load_or_prepare(self) -> dict[str, np.ndarray]:
        """The rendered arrays: memory-mapped from the cache folder (one .npy per array), else rendered now.

        The folder is written whole or not at all (``atomic_dir``); memory-mapping makes
        reopening instant however many scenes there are.
        """
        names = ("images", "masks", "ids")
        if all((self.cache_path / f"{k}.npy").is_file() for k in names):
            try:
                return {k: np.load(self.cache_path / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in names}
            except (OSError, ValueError):
                pass  # a damaged cache is rebuilt below
        start = time.perf_counter()
        arrays = prepare_scenes(self.count, self.seed)
        with atomic_dir(self.cache_path) as tmp:
            for k in names:
                np.save(tmp / f"{k}.npy", arrays[k], allow_pickle=False)
        self._preparation_seconds = time.perf_counter() - start
        return arrays

    def fingerprint(self, split: str) -> list:
        """What the samples depend on (for the statistics cache)."""
        return [VERSION, self.seed, self.count, split]

    def load(self, split: str, sample_id: str) -> Sample:
        row = self.row_of(split, sample_id)
        return Sample(np.array(self._images[row]), np.array(self._masks[row], np.int64), sample_id)

    def info(self) -> dict:
        info = super().info()
        info.update(description=self.description, image_size=[HEIGHT, WIDTH], seed=self.seed)
        return info
