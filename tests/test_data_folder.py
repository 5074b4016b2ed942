"""Folders of images: decoding to the stored size, the on-disk cache, few-shot
sampling before decoding, bad files, and real photos (../shared/data)."""

import os
import pathlib
import shutil
import time

import numpy as np
import pytest
from conftest import CARS_FULLRES, TIN100, require
from PIL import Image

from keras_attn import images as images_lib
from keras_attn.data import DataError, load_dataset
from keras_attn.data import cache as cache_lib


def test_folder_tin100_takes_every_image_and_its_test_split():
    data = load_dataset(f"folder:{require(TIN100)}", shots=10, val_shots=5, seed=0)
    assert len(data.class_names) == 100 and data.notes == []
    assert data.image_shape == (64, 64, 3) and data.train.images.dtype == np.uint8
    assert np.bincount(data.train.labels).tolist() == [10] * 100
    assert np.bincount(data.val.labels).tolist() == [5] * 100
    assert len(data.train) == 1000 and len(data.val) == 500
    # The held-out test split (25 per class) stays whole and is what runs report.
    assert np.bincount(data.test.labels).tolist() == [25] * 100
    assert data.held_out[0] == "test" and data.test.ids[0].startswith("test/")
    # Native 64x64 pixels, exactly as Pillow decodes the file.
    first = os.path.join(TIN100, data.train.ids[0])
    np.testing.assert_array_equal(
        data.train.images[0], np.asarray(Image.open(first).convert("RGB"))
    )


def _write(path, colour=(10, 20, 30), size=(8, 8), mode="RGB", fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new(mode, size, colour).save(path, format=fmt)


def _tree(root, classes, per_class=3, split=None):
    for c, name in enumerate(classes):
        for i in range(per_class):
            folder = (
                os.path.join(root, split, name) if split else os.path.join(root, name)
            )
            _write(os.path.join(folder, f"{i}.png"), (c * 40, i * 10, 7))


def test_folder_split_without_val_is_stratified_and_disjoint(tmp_path):
    _tree(tmp_path, ["b_cat", "a_dog"], per_class=6)
    data = load_dataset(f"folder:{tmp_path}", shots=3, val_shots=2, seed=0)
    assert data.class_names == ["a_dog", "b_cat"] and data.test is None
    assert np.bincount(data.train.labels).tolist() == [3, 3]
    assert np.bincount(data.val.labels).tolist() == [2, 2]
    # Every image has its own colour: no image is in both splits.
    key = lambda split: {tuple(im[0, 0]) for im in split.images}  # noqa: E731
    assert not key(data.train) & key(data.val)


def _missing(tmp_path):
    return str(tmp_path / "nope"), "does not exist"


def _empty(tmp_path):
    return str(tmp_path), "no class subfolders"


def _one_class(tmp_path):
    _tree(tmp_path, ["only"])
    return str(tmp_path), "at least 2"


def _class_without_images(tmp_path):
    _tree(tmp_path, ["a", "b"], split="train")
    os.makedirs(tmp_path / "train" / "c")
    (tmp_path / "train" / "c" / "notes.txt").write_text("not an image")
    return str(tmp_path), r"'.*c' has no readable images"


def _val_classes_differ(tmp_path):
    _tree(tmp_path, ["a", "b"], split="train")
    _tree(tmp_path, ["a", "x"], split="val")
    return str(tmp_path), r"missing \['b'\], extra \['x'\]"


def _a_file(tmp_path):
    _write(str(tmp_path / "photo.png"))
    return str(tmp_path / "photo.png"), r"'.*photo.png' is a file; pass the folder"


def _newline_in_a_class_name(tmp_path):
    _tree(tmp_path, ["a", "b\nc"])  # labels.txt would get 3 lines for 2 classes
    return str(tmp_path), r"Class folder '.*b\\nc' has a line break"


def _class_name_not_utf8(tmp_path):
    _tree(tmp_path, ["a", "b"])
    os.rename(tmp_path / "b", os.path.join(os.fsencode(tmp_path), b"caf\xe9"))
    return str(tmp_path), r"Class folder '.*caf\\udce9' has a name that is not UTF-8"


@pytest.mark.parametrize(
    "make",
    [
        _missing,
        _a_file,
        _empty,
        _one_class,
        _class_without_images,
        _val_classes_differ,
        _newline_in_a_class_name,
        _class_name_not_utf8,
    ],
)
def test_folder_bad_inputs(tmp_path, make):
    path, message = make(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(f"folder:{path}")
    assert "\n" not in str(info.value)
    str(info.value).encode("ascii")  # printable whatever the terminal's encoding


def test_folder_too_many_shots(tmp_path):
    _tree(tmp_path, ["a", "b"], per_class=7)
    with pytest.raises(
        DataError,
        match=r"Class 'a' has 7 training images, fewer than "
        r"--shots=10\. Lower --shots or add images\.",
    ):
        load_dataset(f"folder:{tmp_path}", shots=10)


def test_folder_skips_corrupt_and_truncated_files(tmp_path, caplog):
    _tree(tmp_path, ["a", "b"], per_class=3)
    (tmp_path / "a" / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    good = tmp_path / "b" / "big.jpg"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(good)
    data = good.read_bytes()
    (tmp_path / "b" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    with caplog.at_level("WARNING"):
        loaded = load_dataset(f"folder:{tmp_path}", val_fraction=0)
    assert any("skipped 2 unreadable" in n for n in loaded.notes)
    assert sum("skipped 2 unreadable" in r.message for r in caplog.records) == 1
    assert len(loaded.train) + len(loaded.val) == 7  # 3 + 3 + big.jpg


def test_folder_skips_symlink_loops_and_dangling_links(tmp_path, caplog):
    _tree(tmp_path, ["a", "b"], per_class=3)
    os.symlink("loop", tmp_path / "a" / "loop")  # ELOOP on stat
    os.symlink("twin", tmp_path / "a" / "other")
    os.symlink("other", tmp_path / "a" / "twin")
    os.symlink("gone.png", tmp_path / "b" / "dangling.png")
    os.symlink("b", tmp_path / "c")  # a class folder link: kept, a 3rd class
    os.symlink("d", tmp_path / "d")  # a folder link loop: not a class
    with caplog.at_level("WARNING"):
        loaded = load_dataset(f"folder:{tmp_path}", val_fraction=0)
    assert loaded.class_names == ["a", "b", "c"]
    (note,) = [n for n in loaded.notes if "unreadable" in n]
    assert note.startswith(f"skipped 5 unreadable file(s) in {tmp_path}: a/loop,")
    assert len(loaded.train) == 9


def test_folder_converts_modes_to_rgb(tmp_path):
    _write(str(tmp_path / "a" / "gray.png"), 100, mode="L")
    _write(str(tmp_path / "a" / "rgba.png"), (200, 0, 0, 128), mode="RGBA")
    _write(str(tmp_path / "b" / "cmyk.jpg"), (255, 0, 0, 0), mode="CMYK")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 30, 60, 90] + [0] * 762)
    palette.save(tmp_path / "b" / "palette.png")
    _write(str(tmp_path / "b" / "plain.bmp"), (5, 6, 7))
    data = load_dataset(f"folder:{tmp_path}", val_fraction=0)  # all in train
    assert data.image_shape == (8, 8, 3) and data.train.images.dtype == np.uint8
    assert len(data.train) == 5 and len(data.val) == 0
    pixels = [tuple(int(v) for v in im[4, 4]) for im in data.train.images]
    # Sorted file order: a/gray, a/rgba, b/cmyk, b/palette, b/plain.
    assert pixels[0] == (100, 100, 100)
    assert np.abs(np.subtract(pixels[1], (228, 127, 127))).max() <= 1  # over white
    assert np.abs(np.subtract(pixels[2], (0, 255, 255))).max() <= 4  # cyan (JPEG)
    assert pixels[3:] == [(30, 60, 90), (5, 6, 7)]


def test_folder_mixed_sizes_are_stored_at_image_size(tmp_path):
    _tree(tmp_path, ["a", "b"], per_class=2)
    _write(str(tmp_path / "a" / "wide.png"), size=(30, 10))
    data = load_dataset(f"folder:{tmp_path}", image_size=16, val_fraction=0)
    assert data.image_shape == (16, 16, 3)
    assert any("stored at 16x16 (--resize=squash)" in n for n in data.notes)


def test_separate_test_dir_becomes_the_test_split(tmp_path):
    _tree(tmp_path / "data", ["a", "b"], per_class=3, split="train")
    _tree(tmp_path / "held_out", ["a", "b"], per_class=2)
    _write(str(tmp_path / "held_out" / "a" / "big.png"), size=(20, 20))
    data = load_dataset(
        f"folder:{tmp_path / 'data'}", val_shots=1, test_dir=str(tmp_path / "held_out")
    )
    assert data.test.images.shape == (5, 8, 8, 3)
    np.testing.assert_array_equal(np.bincount(data.test.labels), [3, 2])
    _tree(tmp_path / "other", ["a", "c"], per_class=1)
    with pytest.raises(ValueError, match="other classes"):
        load_dataset(f"folder:{tmp_path / 'data'}", test_dir=str(tmp_path / "other"))


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(
        ValueError, match="Unknown dataset 'mnist'.*cifar100.*folder:PATH"
    ):
        load_dataset("mnist")


# ------------------------------------------------------------ decoding one image


def _photo(path, size=(40, 20), exif_orientation=None):
    """A JPEG whose left half is red and right half blue (width x height)."""
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (220, 20, 20)
    pixels[:, width // 2 :] = (20, 20, 220)
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, quality=95, exif=exif.tobytes())
    return pixels


def test_resize_modes_keep_or_fill_the_aspect_ratio(tmp_path):
    path = str(tmp_path / "wide.jpg")
    _photo(path, size=(40, 20))  # 2:1, red | blue
    crop = images_lib.load_image(path, (10, 10), "crop")
    pad = images_lib.load_image(path, (10, 10), "pad")
    squash = images_lib.load_image(path, (10, 10), "squash")
    assert crop.shape == pad.shape == squash.shape == (10, 10, 3)
    # crop: the centre 20x20 square, half red half blue, no padding.
    assert crop[5, 1, 0] > 180 and crop[5, 8, 2] > 180
    # pad: the whole photo in the middle 10x5 band, mean-colour bars above/below.
    np.testing.assert_allclose(pad[0, 5], images_lib.PAD_COLOUR, atol=2)
    np.testing.assert_allclose(pad[9, 5], images_lib.PAD_COLOUR, atol=2)
    assert pad[5, 1, 0] > 180 and pad[5, 8, 2] > 180
    # squash: every row is the whole width.
    assert squash[0, 1, 0] > 180 and squash[9, 8, 2] > 180
    # Same aspect as the target: all three agree.
    square = str(tmp_path / "square.jpg")
    _photo(square, size=(20, 20))
    outs = [images_lib.load_image(square, (10, 10), m) for m in images_lib.RESIZE_MODES]
    assert max(np.abs(o.astype(int) - outs[0]).max() for o in outs) <= 2


def test_exif_orientation_is_applied(tmp_path):
    path = str(tmp_path / "portrait.jpg")
    # Stored as 40x20 landscape pixels, tagged "rotate 90 CW to display".
    _photo(path, size=(40, 20), exif_orientation=6)
    assert images_lib.decoded_size(path) == (40, 20)  # (height, width)
    upright = images_lib.load_image(path)
    assert upright.shape == (40, 20, 3)
    # Rotated clockwise: the red left half is now on top.
    assert upright[5, 10, 0] > 180 and upright[35, 10, 2] > 180


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = str(tmp_path / "phone.jpg")
    _photo(path, size=(4032, 3024))
    with Image.open(path) as img:  # what load_image asks the decoder for
        img.draft(None, images_lib._draft_size(img.size, (128, 128), "crop"))
        assert img.size == (504, 378)  # 1/8 scale, still covers 128 px
    image = images_lib.load_image(path, (128, 128), "crop")
    assert image.shape == (128, 128, 3)
    assert image[64, 10, 0] > 180 and image[64, 118, 2] > 180


# --------------------------------------------------------------- the cache


def _count_decodes(monkeypatch):
    calls = []
    real = images_lib.load_image

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(images_lib, "load_image", counting)
    return calls


def test_fewshot_decodes_only_the_picks_and_a_second_run_nothing(tmp_path, monkeypatch):
    _tree(tmp_path / "data", ["a", "b", "c"], per_class=20, split="train")
    _tree(tmp_path / "data", ["a", "b", "c"], per_class=4, split="test")
    options = dict(shots=5, val_shots=2, seed=0, cache_dir=str(tmp_path / "cache"))
    calls = _count_decodes(monkeypatch)
    first = load_dataset(f"folder:{tmp_path / 'data'}", **options)
    assert len(calls) == 3 * (5 + 2) + 3 * 4  # picks + the whole test split
    assert sorted(calls) == sorted(
        os.path.join(tmp_path / "data", i)
        for s in (first.train, first.val, first.test)
        for i in s.ids
    )
    calls.clear()
    again = load_dataset(f"folder:{tmp_path / 'data'}", **options)
    assert calls == []
    np.testing.assert_array_equal(again.train.images[:], first.train.images[:])
    # Another seed decodes only the files it adds.
    other = load_dataset(f"folder:{tmp_path / 'data'}", **dict(options, seed=1))
    before = set(first.train.ids) | set(first.val.ids) | set(first.test.ids)
    added = (set(other.train.ids) | set(other.val.ids)) - before
    assert 0 < len(calls) == len(added)


def test_cache_entry_follows_the_files(tmp_path, monkeypatch):
    _tree(tmp_path / "data", ["a", "b"], per_class=3)
    cache_dir = str(tmp_path / "cache")
    load_dataset(f"folder:{tmp_path / 'data'}", val_fraction=0, cache_dir=cache_dir)
    # A moved folder keeps its entry: nothing is decoded again.
    shutil.move(tmp_path / "data", tmp_path / "moved")
    calls = _count_decodes(monkeypatch)
    load_dataset(f"folder:{tmp_path / 'moved'}", val_fraction=0, cache_dir=cache_dir)
    assert calls == []
    # An edited file makes a new entry: its pixels are the new ones.
    _write(str(tmp_path / "moved" / "a" / "0.png"), (250, 250, 250))
    data = load_dataset(
        f"folder:{tmp_path / 'moved'}", val_fraction=0, cache_dir=cache_dir
    )
    assert len(calls) == 6
    assert tuple(data.train.images[0][0, 0]) == (250, 250, 250)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda e: (e / "status.npy").write_bytes(b"garbage"), "status.npy does not"),
        (lambda e: np.save(e / "status.npy", np.zeros(3)), "status.npy holds float64"),
        (lambda e: os.truncate(e / "images.u8", 100), "images.u8 is 100 bytes"),
    ],
)
def test_damaged_cache_entry_is_named_and_rebuilt(tmp_path, caplog, damage, reason):
    """Before: a pickle error or "mmap length is greater than file size", and
    every later run failed the same way."""
    _tree(tmp_path / "data", ["a", "b"], per_class=3)
    options = dict(val_fraction=0, cache_dir=str(tmp_path / "cache"))
    first = load_dataset(f"folder:{tmp_path / 'data'}", **options)
    (entry,) = [
        root for root, _, files in os.walk(tmp_path / "cache") if "status.npy" in files
    ]
    damage(pathlib.Path(entry))
    with caplog.at_level("WARNING"):
        again = load_dataset(f"folder:{tmp_path / 'data'}", **options)
    (warning,) = [r.getMessage() for r in caplog.records if "damaged" in r.message]
    assert warning.startswith(f"The image cache entry {entry} is damaged ({reason}")
    assert warning.endswith("rebuilding it (its images are decoded again).")
    np.testing.assert_array_equal(again.train.images[:], first.train.images[:])
    caplog.clear()
    load_dataset(f"folder:{tmp_path / 'data'}", **options)  # whole again
    assert not [r for r in caplog.records if "damaged" in r.message]


def test_unreadable_pick_is_replaced_by_a_readable_image(tmp_path):
    _tree(tmp_path, ["a", "b"], per_class=4)
    for i in range(2):  # two of a's four files are broken
        (tmp_path / "a" / f"{i}.png").write_bytes(b"not a png")
    data = load_dataset(f"folder:{tmp_path}", shots=2, val_fraction=0, seed=0)
    assert np.bincount(data.train.labels).tolist() == [2, 2]
    assert sorted(data.train.ids[:2]) == ["a/2.png", "a/3.png"]
    assert any("skipped 2 unreadable" in n for n in data.notes)
    with pytest.raises(DataError, match="Class 'a' has 2 training images"):
        load_dataset(f"folder:{tmp_path}", shots=3, val_fraction=0, seed=0)


def test_cache_needs_free_space_and_a_writable_folder(tmp_path, monkeypatch):
    _tree(tmp_path / "data", ["a", "b"], per_class=3)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(DataError, match="Cannot create the image cache") as info:
        load_dataset(
            f"folder:{tmp_path / 'data'}", cache_dir=str(tmp_path / "a_file" / "c")
        )
    assert "--cache_dir" in str(info.value) and "\n" not in str(info.value)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        cache_lib.shutil, "disk_usage", lambda p: usage._replace(free=1000)
    )
    with pytest.raises(DataError, match="needs 0 MB more in .* only 0 MB are free"):
        load_dataset(f"folder:{tmp_path / 'data'}", cache_dir=str(tmp_path / "c2"))


def test_image_rows_index_like_an_array():
    base = np.arange(5 * 2 * 3 * 3, dtype=np.uint8).reshape(5, 2, 3, 3)
    rows = cache_lib.ImageRows(base, [4, 0, 2])
    expected = base[[4, 0, 2]]
    assert rows.shape == expected.shape and len(rows) == 3
    np.testing.assert_array_equal(rows[1], expected[1])
    np.testing.assert_array_equal(rows[1:], expected[1:])
    np.testing.assert_array_equal(rows[[2, 0]], expected[[2, 0]])
    np.testing.assert_array_equal(rows[:, :, ::-1], expected[:, :, ::-1])
    np.testing.assert_array_equal(np.asarray(rows), expected)
    np.testing.assert_array_equal(rows.take([2], axis=0)[0], base[2])


# -------------------------------------------------------------- real photos


def _reference_crop(path, size):
    """Centre crop of the EXIF-rotated photo decoded at full size (Pillow)."""
    from PIL import ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        return np.asarray(ImageOps.fit(img, size, Image.Resampling.BILINEAR))


def test_real_photos_keep_their_aspect_ratio():
    data = load_dataset(
        f"folder:{require(CARS_FULLRES)}",
        shots=2,
        val_shots=1,
        image_size=128,
        resize="crop",
    )
    assert data.image_shape == (128, 128, 3) and data.test is None
    assert len(data.train) == 40 and len(data.val) == 20
    assert any("stored at 128x128 (--resize=crop)" in n for n in data.notes)
    # Each stored image is the centre crop of the photo at full resolution,
    # up to the JPEG decoder's reduced-scale decoding (a few grey levels).
    for i in range(4):
        path = os.path.join(CARS_FULLRES, data.train.ids[i])
        reference = _reference_crop(path, (128, 128)).astype(int)
        diff = np.abs(data.train.images[i].astype(int) - reference)
        assert diff.mean() < 6, (path, diff.mean())


def test_phone_sized_photos_load_at_the_stored_size(tmp_path):
    """Real photos upscaled to 4032x3024 (12 MP): stored at 128 px in seconds."""
    source = require(CARS_FULLRES)
    for split in ("train", "val"):
        for name in sorted(os.listdir(os.path.join(source, split)))[:3]:
            folder = os.path.join(source, split, name)
            for f in sorted(os.listdir(folder))[:2]:
                with Image.open(os.path.join(folder, f)) as img:
                    big = img.convert("RGB").resize((4032, 3024))
                os.makedirs(tmp_path / split / name, exist_ok=True)
                big.save(tmp_path / split / name / f, quality=90)
    start = time.perf_counter()
    data = load_dataset(f"folder:{tmp_path}", image_size=128, resize="pad")
    assert time.perf_counter() - start < 60
    assert data.image_shape == (128, 128, 3)
    assert len(data.train) == 6 and len(data.val) == 6
    # pad: the 4:3 photo fills the width; bars of the mean colour top and bottom.
    np.testing.assert_allclose(
        data.train.images[0][0, 64], images_lib.PAD_COLOUR, atol=3
    )


def test_a_read_only_cache_is_read_when_it_holds_the_images(tmp_path, monkeypatch):
    """A shared, read-only cache: used when it holds every image decoded,
    else one line naming --cache_dir and KERAS_ATTN_CACHE."""
    _tree(tmp_path / "data", ["a", "b"], per_class=3)
    cache = tmp_path / "shared"
    first = load_dataset(f"folder:{tmp_path / 'data'}", cache_dir=str(cache))
    real = os.access

    def read_only(path, mode):  # root ignores chmod: deny writing by hand
        if str(path).startswith(str(cache)) and mode & os.W_OK:
            return False
        return real(path, mode)

    monkeypatch.setattr(os, "access", read_only)
    again = load_dataset(f"folder:{tmp_path / 'data'}", cache_dir=str(cache))
    np.testing.assert_array_equal(again.train.images[:], first.train.images[:])
    _tree(tmp_path / "data", ["c"], per_class=3)  # images the cache lacks
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{tmp_path / 'data'}", cache_dir=str(cache))
    message = str(info.value)
    assert "is read-only and does not hold these images" in message
    assert "--cache_dir" in message and "KERAS_ATTN_CACHE" in message
