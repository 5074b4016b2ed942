"""`shapes`: a generated ten-class data set where *where* the object is matters.

Each image shows one filled shape of one of ten classes, of random colour,
size (about 14-30 px at 64x64) and position, on a cluttered background:
smooth colour noise, pixel noise and thin random strokes (straight segments
and arcs, never one of the class shapes). Each example carries the object's
box, so attention maps can be scored with the pointing game (is the map's
maximum inside the box?). Everything is drawn with NumPy, vectorised over the
batch: deterministic for a seed, no files, ~2,000 images in well under a
second.
"""

from __future__ import annotations

import numpy as np

SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "star",
    "plus",
    "ring",
    "frame",
    "ellipse",
    "crescent",
)

_CHUNK = 256  # images drawn at once; bounds the (B, K, H, W) temporaries


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Inside test of a shape of "radius" 1 centred at 0.

    `u`, `v`: (B, H, W) coordinates (x right, y down) in units of the shape's
    radius; `p`: (B, 1, 1) per-image random parameter in [0, 1) (orientation
    where the class allows one). Returns a (B, H, W) bool mask.
    """
    au, av = np.abs(u), np.abs(v)
    r2 = u * u + v * v
    if name == "circle":
        return r2 <= 1.0
    if name == "square":
        return (au <= 0.8) & (av <= 0.8)
    if name == "triangle":  # pointing up, base at the bottom
        return (v <= 0.75) & (v >= -1.0 + 2.0 * au)
    if name == "diamond":
        return au + av <= 1.0
    if name == "star":  # five points, outer radius 1, inner 0.42
        theta = np.arctan2(v, u) + np.pi / 2 + p * (2 * np.pi / 5)
        phase = np.mod(theta, 2 * np.pi / 5) / (2 * np.pi / 5)  # 0..1 per point
        tri = np.abs(2.0 * phase - 1.0)  # 1 at a point, 0 between
        return np.sqrt(r2) <= 0.42 + 0.58 * tri**1.5
    if name == "plus":
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    if name == "ring":
        return (r2 <= 1.0) & (r2 >= 0.5**2)
    if name == "frame":
        return (au <= 0.85) & (av <= 0.85) & ((au >= 0.45) | (av >= 0.45))
    if name == "ellipse":  # horizontal or vertical, axes 1 and 0.5
        horizontal = p < 0.5
        a = np.where(horizontal, u, v)
        b = np.where(horizontal, v, u)
        return a * a + 4.0 * b * b <= 1.0
    if name == "crescent":  # disk minus a shifted disk, opening to a random side
        angle = p * 2 * np.pi
        du, dv = 0.55 * np.cos(angle), 0.55 * np.sin(angle)
        return (r2 <= 1.0) & ((u - du) ** 2 + (v - dv) ** 2 > 0.8**2)
    raise ValueError(f"Unknown shape {name!r}. Expected one of {SHAPE_CLASSES}.")


def _upsample_matrix(size_out: int, size_in: int) -> np.ndarray:
    """(size_out, size_in) bilinear interpolation weights (align corners)."""
    pos = np.linspace(0.0, size_in - 1.0, size_out)
    return np.maximum(0.0, 1.0 - np.abs(pos[:, None] - np.arange(size_in)[None, :]))


def _draw_chunk(
    labels: np.ndarray, image_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    b, s = len(labels), image_size
    scale = s / 64.0
    grid = np.arange(s, dtype=np.float32) + 0.5
    yy, xx = grid[None, :, None], grid[None, None, :]  # (1, H, 1), (1, 1, W)

    # Background: a random base colour, smooth colour noise, pixel noise.
    f32 = np.float32
    base = rng.uniform(40, 215, size=(b, 1, 1, 3)).astype(f32)
    coarse = rng.standard_normal(size=(b, 6, 6, 3), dtype=f32) * 45.0
    up = _upsample_matrix(s, 6).astype(f32)
    smooth = np.einsum("hi,bijc,wj->bhwc", up, coarse, up, optimize=True)
    img = base + smooth + (rng.random(size=(b, s, s, 3), dtype=f32) - 0.5) * 30.0

    # Distractors: thin straight segments and circular arcs of random colours.
    n_lines, n_arcs = 4, 2
    ends = rng.uniform(-0.1 * s, 1.1 * s, size=(b, n_lines, 2, 2)).astype(f32)
    a, d = ends[:, :, 0], ends[:, :, 1] - ends[:, :, 0]  # (B, K, 2)
    py = yy[:, None] - a[..., 0, None, None]  # (B, K, H, 1)
    px = xx[:, None] - a[..., 1, None, None]  # (B, K, 1, W)
    dy, dx = d[..., 0, None, None], d[..., 1, None, None]
    t = np.clip((py * dy + px * dx) / (dy * dy + dx * dx + 1e-6), 0.0, 1.0)
    width = (rng.uniform(0.6, 1.4, size=(b, n_lines, 1, 1)) * scale).astype(f32)
    strokes = (py - t * dy) ** 2 + (px - t * dx) ** 2 <= width * width

    centre = rng.uniform(0, s, size=(b, n_arcs, 2, 1, 1)).astype(f32)
    radius = (rng.uniform(8, 30, size=(b, n_arcs, 1, 1)) * scale).astype(f32)
    mid = rng.uniform(-np.pi, np.pi, size=(b, n_arcs, 1, 1)).astype(f32)
    half_span = rng.uniform(0.3, 1.1, size=(b, n_arcs, 1, 1)).astype(f32)
    ay, ax = yy[:, None] - centre[:, :, 0], xx[:, None] - centre[:, :, 1]
    dist = np.sqrt(ay * ay + ax * ax)
    on_circle = np.abs(dist - radius) <= 0.9 * scale
    # Within `half_span` radians of the direction `mid`: never a closed ring.
    along = ax * np.cos(mid) + ay * np.sin(mid) >= np.cos(half_span) * dist
    strokes = np.concatenate([strokes, on_circle & along], axis=1)  # (B, K, H, W)

    stroke_colour = rng.uniform(0, 255, size=(b, n_lines + n_arcs, 3)).astype(f32)
    for k in range(n_lines + n_arcs):
        img = np.where(strokes[:, k, :, :, None], stroke_colour[:, k, None, None], img)

    # The object: a radius (half its size) of 7-15 px at 64x64, kept inside.
    r = (rng.uniform(7.0, 15.0, size=b) * scale).astype(f32)
    cy = rng.uniform(r + 1, s - r - 1)
    cx = rng.uniform(r + 1, s - r - 1)
    u = (xx - cx[:, None, None]) / r[:, None, None]
    v = (yy - cy[:, None, None]) / r[:, None, None]
    param = rng.uniform(0, 1, size=(b, 1, 1)).astype(f32)
    mask = np.zeros((b, s, s), dtype=bool)
    for c, name in enumerate(SHAPE_CLASSES):
        sel = np.flatnonzero(labels == c)
        if len(sel):
            mask[sel] = _shape_mask(name, u[sel], v[sel], param[sel])

    # Object colour: far from the local background so the shape stays visible.
    colour = rng.uniform(0, 255, size=(b, 3)).astype(f32)
    bg_mean = base[:, 0, 0]
    too_close = np.linalg.norm(colour - bg_mean, axis=1) < 120
    colour[too_close] = np.where(
        bg_mean[too_close] > 127,
        rng.uniform(0, 50, (too_close.sum(), 3)),
        rng.uniform(205, 255, (too_close.sum(), 3)),
    )
    img = np.where(mask[..., None], colour[:, None, None], img)
    images = np.clip(img, 0, 255)

    rows, cols = mask.any(axis=2), mask.any(axis=1)  # (B, H), (B, W)
    boxes = np.stack(
        [
            rows.argmax(axis=1),
            cols.argmax(axis=1),
            s - rows[:, ::-1].argmax(axis=1),
            s - cols[:, ::-1].argmax(axis=1),
        ],
        axis=1,
    ) / float(s)
    return images.astype(np.uint8), boxes.astype(np.float32)


def make_shapes(
    num_per_class: int, image_size: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws `num_per_class` images of each of the ten shape classes.

    Args:
        num_per_class: images per class (the classes are interleaved, in a
            shuffled order).
        image_size: side of the square images; shapes and strokes scale with
            it (the object is ~14-30 px at the default 64).
        seed: the same seed gives the same images, labels and boxes.

    Returns:
        `(images, labels, boxes)`: (N, S, S, 3) uint8, (N,) int32 and (N, 4)
        float32 `[ymin, xmin, ymax, xmax]` in [0, 1] (the tight box of the
        object's pixels; max is exclusive), with `N = 10 * num_per_class`.

    Example:
    >>> images, labels, boxes = make_shapes(4, seed=1)
    >>> images.shape, SHAPE_CLASSES[labels[0]]
    """
    if num_per_class < 0:
        raise ValueError(f"num_per_class must be >= 0. Received: {num_per_class}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32. Received: {image_size}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SHAPE_CLASSES), dtype=np.int32), num_per_class)
    labels = labels[rng.permutation(len(labels))]
    images = np.zeros((len(labels), image_size, image_size, 3), np.uint8)
    boxes = np.zeros((len(labels), 4), np.float32)
    for start in range(0, len(labels), _CHUNK):
        stop = start + _CHUNK
        images[start:stop], boxes[start:stop] = _draw_chunk(
            labels[start:stop], image_size, rng
        )
    return images, labels, boxes
