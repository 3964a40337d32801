"""segdash.data.imageio: odd real-world images become RGB uint8; label maps stay indices."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from segdash.data import imageio
from segdash.data.imageio import (
    decode_image_bytes,
    list_images,
    read_image,
    read_label_image,
    write_label_png,
)
from segdash.errors import SegdashError

RGB = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[10, 20, 30], [200, 100, 50], [0, 0, 0]]], dtype=np.uint8
)  # 2 x 3 x 3


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_rgb_roundtrip(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    Image.fromarray(RGB).save(path)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (2, 3, 3)
    np.testing.assert_array_equal(image, RGB)


def test_gray_jpeg_becomes_rgb_or_stays_single_channel(tmp_path):
    gray = np.full((8, 8), 120, np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.jpg")
    rgb = read_image(tmp_path / "g.jpg")
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert np.all(np.abs(rgb.astype(int) - 120) <= 1) and np.array_equal(rgb[..., 0], rgb[..., 2])
    native = read_image(tmp_path / "g.jpg", mode="native")
    assert native.shape == (8, 8, 1) and native.dtype == np.uint8


def test_gray_mode_for_single_channel_models(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "c.png")
    gray = read_image(tmp_path / "c.png", mode="gray")
    expected = np.asarray(Image.fromarray(RGB).convert("L"))
    assert gray.shape == (2, 3, 1) and gray.dtype == np.uint8
    assert np.abs(gray[:, :, 0].astype(int) - expected).max() <= 1
    np.save(tmp_path / "m.npy", np.ones((2, 3), np.float32))
    assert read_image(tmp_path / "m.npy", mode="gray").shape == (2, 3, 1)


def test_cmyk_and_rgba_and_palette_become_rgb(tmp_path):
    solid = np.zeros((8, 8, 3), np.uint8)
    solid[...] = (200, 30, 40)
    Image.fromarray(solid).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (8, 8, 3)
    assert np.all(np.abs(cmyk.astype(int) - (200, 30, 40)) <= 6)

    rgba = np.dstack([RGB, np.zeros((2, 3), np.uint8)])  # fully transparent: colours are kept
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), RGB)

    pal = Image.frombytes("P", (2, 1), bytes([0, 1]))
    pal.putpalette([9, 8, 7, 1, 2, 3] + [0] * 762)
    pal.save(tmp_path / "pal.png")
    np.testing.assert_array_equal(read_image(tmp_path / "pal.png"), [[[9, 8, 7], [1, 2, 3]]])


def test_16bit_png_scaled_to_uint8_and_kept_native(tmp_path):
    values = np.array([[0, 65535], [257 * 100, 257 * 7]], np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    image = read_image(tmp_path / "d.png")
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image[..., 1], [[0, 255], [100, 7]])
    native = read_image(tmp_path / "d.png", mode="native")
    assert native.dtype == np.uint16 and native[1, 0, 0] == 25700


def test_float_and_planar_tiff_through_tifffile(tmp_path):
    planar = np.zeros((3, 4, 6), np.float32)
    planar[0] = 1.0  # red channel at max
    tifffile.imwrite(tmp_path / "p.tif", planar)
    image = read_image(tmp_path / "p.tif")
    assert image.shape == (4, 6, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [255, 0, 0]


def test_npy_images(tmp_path):
    np.save(tmp_path / "mri.npy", np.arange(12, dtype=np.float64).reshape(3, 4))
    image = read_image(tmp_path / "mri.npy")
    assert image.shape == (3, 4, 1) and image.dtype == np.float32 and image[2, 3, 0] == 11
    np.save(tmp_path / "rgb.npy", RGB)
    assert read_image(tmp_path / "rgb.npy").dtype == np.uint8
    np.save(tmp_path / "chw.npy", np.zeros((3, 5, 7), np.float32))
    assert read_image(tmp_path / "chw.npy").shape == (5, 7, 3)


def test_corrupt_and_non_image_files_name_the_file(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(SegdashError, match="broken.jpg"):
        read_image(tmp_path / "broken.jpg")
    Image.fromarray(RGB).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(SegdashError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(SegdashError, match="missing.png.*not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "x.npy").write_bytes(b"garbage")
    with pytest.raises(SegdashError, match="x.npy"):
        read_image(tmp_path / "x.npy")
    with pytest.raises(SegdashError, match="upload.png"):
        decode_image_bytes(b"hello", "upload.png")
    with pytest.raises(SegdashError, match="empty"):
        decode_image_bytes(b"", "upload.png")


def test_decompression_bomb_guard_gives_clear_message(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setenv("SEGDASH_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(SegdashError, match="big.png.*40 x 40.*SEGDASH_MAX_IMAGE_PIXELS"):
        read_image(tmp_path / "big.png")


def test_decode_image_bytes_matches_read_image(tmp_path):
    Image.fromarray(RGB).convert("L").save(tmp_path / "g.png")
    data = (tmp_path / "g.png").read_bytes()
    np.testing.assert_array_equal(decode_image_bytes(data, "g.png"), read_image(tmp_path / "g.png"))
    np.save(tmp_path / "a.npy", np.ones((2, 2), np.float32))
    assert decode_image_bytes((tmp_path / "a.npy").read_bytes(), "a.npy").shape == (2, 2, 1)


def test_label_images_are_indices_never_colours(tmp_path):
    labels = np.array([[0, 1, 2], [255, 1, 0]])
    write_label_png(tmp_path / "plain.png", labels)
    assert Image.open(tmp_path / "plain.png").mode == "L"
    write_label_png(tmp_path / "pal.png", labels, colors=[(128, 0, 0), (0, 128, 0), (0, 0, 128)])
    with Image.open(tmp_path / "pal.png") as img:
        assert img.mode == "P" and img.getpalette()[:6] == [128, 0, 0, 0, 128, 0]
    for name in ("plain.png", "pal.png"):
        out = read_label_image(tmp_path / name)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, labels)
    # no temporary files left behind by the atomic write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pal.png", "plain.png"]


def test_label_image_variants(tmp_path):
    write_label_png(tmp_path / "wide.png", np.array([[0, 300]]))
    np.testing.assert_array_equal(read_label_image(tmp_path / "wide.png"), [[0, 300]])
    gray_as_rgb = np.repeat(np.array([[3, 4]], np.uint8)[:, :, None], 3, axis=2)
    Image.fromarray(gray_as_rgb).save(tmp_path / "grayrgb.png")
    np.testing.assert_array_equal(read_label_image(tmp_path / "grayrgb.png"), [[3, 4]])
    Image.fromarray(RGB).save(tmp_path / "colour.png")
    with pytest.raises(SegdashError, match="colour.png.*classes file"):
        read_label_image(tmp_path / "colour.png")
    np.save(tmp_path / "m.npy", np.array([[0.0, 2.0]], np.float32))
    np.testing.assert_array_equal(read_label_image(tmp_path / "m.npy"), [[0, 2]])
    np.save(tmp_path / "frac.npy", np.array([[0.5]]))
    with pytest.raises(SegdashError, match="non-integer"):
        read_label_image(tmp_path / "frac.npy")
    with pytest.raises(SegdashError, match="out.png"):
        write_label_png(tmp_path / "out.png", np.array([[-1, 0]]))


def test_list_images_skips_hidden_resource_forks_and_other_files(tmp_path):
    for name in ["b.jpg", "a.PNG", "c.npy", "._b.jpg", ".hidden.png", "Abyssinian_1.mat", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.PNG", "b.jpg", "c.npy"]
    assert [p.name for p in list_images(tmp_path, extensions={".jpg"})] == ["b.jpg"]
    assert ".jpg" in imageio.IMAGE_EXTENSIONS
    with pytest.raises(SegdashError, match="nowhere"):
        list_images(tmp_path / "nowhere")


def test_image_size_of_a_tiff_pillow_cannot_open_reads_only_its_header(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    from segdash.data import imageio

    tifffile.imwrite(tmp_path / "f.tif", np.zeros((32, 48, 3), np.float32), photometric="rgb")
    monkeypatch.setattr(imageio, "_read_tiff_array", lambda *a: pytest.fail("image_size decoded the pixels"))
    assert imageio.image_size(tmp_path / "f.tif") == (32, 48)
