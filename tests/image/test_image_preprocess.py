"""Safe decoding of odd and hostile images, and the preprocessing batch contract."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, features

from sentiment_fusion.errors import ImageError, ImageTooLargeError
from sentiment_fusion.image import ImagePreprocessor

PRE = ImagePreprocessor()
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


def noise(w: int, h: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height in IHDR and holds almost no data (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- odd formats
def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (16, 8), RED)  # wide: left half red, right half blue
    stored.paste(BLUE, (8, 0, 16, 8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = PRE.decode(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.size == (8, 16)  # now tall
    px = rgb(out)
    assert px[2, 4, 0] > 200 and px[2, 4, 2] < 60  # top is the red (left) half
    assert px[13, 4, 2] > 200 and px[13, 4, 0] < 60


def test_palette_png_with_and_without_transparency():
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 1), 1)
    px = rgb(PRE.decode(encode(pal, "PNG")))
    assert tuple(px[0, 0]) == RED and tuple(px[1, 1]) == BLUE
    px = rgb(PRE.decode(encode(pal, "PNG", transparency=0)))  # index 0 transparent -> white
    assert tuple(px[0, 0]) == WHITE and tuple(px[1, 1]) == BLUE


def test_rgba_png_is_composited_over_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # invisible red
    img.putpixel((0, 0), (0, 0, 255, 255))
    img.putpixel((1, 0), (0, 0, 0, 128))
    px = rgb(PRE.decode(encode(img, "PNG")))
    assert tuple(px[1, 1]) == WHITE
    assert tuple(px[0, 0]) == BLUE
    assert all(abs(v - 127) <= 1 for v in px[0, 1])


def test_la_greyscale_and_bilevel():
    la = Image.new("LA", (4, 4), (0, 0))
    assert tuple(rgb(PRE.decode(encode(la, "PNG")))[0, 0]) == WHITE
    grey = Image.new("L", (4, 4), 77)
    assert tuple(rgb(PRE.decode(encode(grey, "PNG")))[2, 2]) == (77, 77, 77)
    bw = Image.new("1", (4, 4), 1)
    assert tuple(rgb(PRE.decode(encode(bw, "PNG")))[0, 0]) == WHITE


def test_cmyk_jpeg():
    img = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red in CMYK
    px = rgb(PRE.decode(encode(img, "JPEG", quality=95)))
    assert px[4, 4, 0] > 220 and px[4, 4, 1] < 40 and px[4, 4, 2] < 40


def test_16bit_greyscale_png_is_rescaled_not_clipped():
    values = np.array([[0, 65535, 128 * 257, 1000]] * 4, dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    px = rgb(PRE.decode(data))
    assert [px[0, i, 0] for i in range(4)] == [0, 255, 128, 4]
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert tuple(rgb(PRE.decode(data))[2, 2]) == RED


def test_animated_png_first_frame():
    frames = [Image.new("RGB", (4, 4), BLUE), Image.new("RGB", (4, 4), RED)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert tuple(rgb(PRE.decode(data))[1, 1]) == BLUE


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow build has no WebP support")
def test_webp_still_and_animated():
    assert tuple(rgb(PRE.decode(encode(Image.new("RGB", (4, 4), BLUE), "WEBP", lossless=True)))[1, 1]) == BLUE
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert tuple(rgb(PRE.decode(data))[1, 1]) == RED


def test_sources_path_bytes_pil_array_agree(tmp_path):
    img = noise(12, 9)
    data = encode(img, "PNG")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    ref = PRE([data])
    for source in (path, str(path), bytearray(data), img, np.asarray(img), Image.open(io.BytesIO(data))):
        assert np.array_equal(PRE([source]), ref), type(source)


# --------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("data", [b"hello, not an image", b"\x89PNG\r\n\x1a\n garbage", b"\xff\xd8\xff"])
def test_non_image_bytes_rejected(data):
    with pytest.raises(ImageError) as err:
        PRE.decode(data)
    assert not isinstance(err.value, ImageTooLargeError)


def test_lazily_opened_truncated_pil_image_rejected():
    data = encode(noise(64, 64), "PNG")
    lazy = Image.open(io.BytesIO(data[: len(data) // 2]))  # header only: decoding comes later
    with pytest.raises(ImageError, match="truncated"):
        PRE.decode(lazy)


def test_empty_and_missing(tmp_path):
    with pytest.raises(ImageError, match="empty"):
        PRE.decode(b"")
    with pytest.raises(ImageError, match="no such image file"):
        PRE.decode(tmp_path / "absent.jpg")
    with pytest.raises(ImageError, match="directory"):
        PRE.decode(tmp_path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("lenient_global", [False, True])
def test_truncated_images_rejected(fmt, lenient_global, monkeypatch):
    data = encode(noise(64, 64), fmt)
    cut = data[: len(data) // 2]
    # Another library in the process may have switched PIL to accept truncated files.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient_global)
    with pytest.raises(ImageError, match=r"truncated|cannot decode"):
        PRE.decode(cut)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is lenient_global  # restored


def test_byte_limit_checked_before_reading(tmp_path):
    small = ImagePreprocessor(max_bytes=100)
    data = encode(noise(16, 16), "PNG")
    assert len(data) > 100
    with pytest.raises(ImageTooLargeError, match="limit is 100"):
        small.decode(data)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageTooLargeError):
        small.decode(path)


def test_decompression_bomb_rejected_from_header_quickly():
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError):
        PRE.decode(png_header_only(50_000, 50_000))
    # Over our 40 MP limit but under PIL's own bomb limits: our check must decide.
    with pytest.raises(ImageTooLargeError, match="limit is 40000000"):
        PRE.decode(png_header_only(10_000, 5_000))
    assert time.perf_counter() - start < 2.0


def test_pil_global_limits_do_not_decide(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # someone disabled PIL's guard
    with pytest.raises(ImageTooLargeError):
        PRE.decode(png_header_only(50_000, 50_000))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5)  # ... or made it stricter than ours
    with pytest.raises(ImageTooLargeError):
        PRE.decode(encode(noise(4, 4), "PNG"))


def test_pil_bomb_warning_as_error_still_means_too_large(monkeypatch):
    import warnings

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)  # 4x4 = 16 < 20 < 25 = 5x5: the warning range
    big = ImagePreprocessor(max_pixels=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # as under pytest -W error
        with pytest.raises(ImageTooLargeError):
            big.decode(encode(noise(5, 5), "PNG"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert big.decode(encode(noise(5, 5), "PNG")).size == (5, 5)  # our limit allows it


def test_pixel_limit_applies_to_arrays_and_pil_images():
    tiny = ImagePreprocessor(max_pixels=15)
    with pytest.raises(ImageTooLargeError):
        tiny.decode(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ImageTooLargeError):
        tiny.decode(Image.new("RGB", (4, 4)))


def test_formats_outside_the_allow_list_rejected():
    tiff = encode(Image.new("RGB", (4, 4), RED), "TIFF")
    with pytest.raises(ImageError, match="accepted formats"):
        PRE.decode(tiff)
    allowing = ImagePreprocessor(formats=(*PRE.formats, "TIFF"))
    assert tuple(rgb(allowing.decode(tiff))[0, 0]) == RED


@pytest.mark.parametrize(
    "array", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4), np.uint8)]
)
def test_bad_arrays_rejected(array):
    with pytest.raises(ImageError, match="HxWx3 uint8"):
        PRE.decode(array)


def test_unsupported_source_type():
    with pytest.raises(ImageError, match="path, encoded bytes"):
        PRE.decode(42)


# --------------------------------------------------------------------------- batch contract
def test_batch_shape_dtype_and_values():
    batch = PRE([np.full((4, 4, 3), 64, np.uint8), np.full((4, 4, 3), 255, np.uint8)])
    assert batch.shape == (2, 224, 224, 3) and batch.dtype == np.float32
    assert np.all(batch[0] == (64 - 128) / 128) and np.all(batch[1] == (255 - 128) / 128)
    assert batch.flags.c_contiguous


def test_deterministic():
    data = encode(noise(37, 23), "JPEG")
    assert np.array_equal(PRE([data]), PRE([data]))
    assert PRE([data]).tobytes() == ImagePreprocessor.from_config(PRE.to_config())([data]).tobytes()


def test_geometry_keeps_aspect_and_orientation():
    img = Image.new("RGB", (40, 20), RED)  # wide: the central square is kept, not squashed
    img.paste(BLUE, (20, 0, 40, 20))
    px = PRE.pixels(img)
    assert px.shape == (224, 224, 3) and px.dtype == np.uint8
    assert tuple(px[112, 10]) == RED and tuple(px[112, 213]) == BLUE


def test_nchw_layout():
    nchw = ImagePreprocessor(layout="NCHW")
    arr = noise(8, 8)
    assert np.array_equal(nchw([arr]), PRE([arr]).transpose(0, 3, 1, 2))


def test_list_contract():
    assert PRE([]).shape == (0, 224, 224, 3)
    with pytest.raises(TypeError, match="list"):
        PRE(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(TypeError, match="list"):
        PRE("a.jpg")


# --------------------------------------------------------------------------- config
def test_config_round_trip_through_json():
    pre = ImagePreprocessor(
        size=96,
        resize=110,
        mean=(1.0, 2.0, 3.0),
        std=(4.0, 5.0, 6.0),
        layout="NCHW",
        max_bytes=123,
        max_pixels=456,
        formats=("PNG",),
    )
    config = json.loads(json.dumps(pre.to_config()))
    assert ImagePreprocessor.from_config(config) == pre
    assert ImagePreprocessor.from_config(PRE.to_config()) == PRE


def test_repr_and_describe_say_what_happens():
    assert "size=224" in repr(PRE) and "mean=(128.0" in repr(PRE)
    text = PRE.describe()
    assert "224x224" in text and "128.0" in text and "EXIF" in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 0}, "size"),
        ({"resize": 100}, "resize"),
        ({"std": (1.0, 0.0, 1.0)}, "std"),
        ({"mean": (1.0, 2.0)}, "mean"),
        ({"layout": "NWHC"}, "layout"),
        ({"interpolation": "cubic"}, "interpolation"),
        ({"max_bytes": 0}, "max_bytes"),
        ({"formats": ("JPEG", "NOPE")}, "formats"),
    ],
)
def test_invalid_config_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImagePreprocessor(**kwargs)


def test_unknown_config_key_rejected():
    with pytest.raises(ValueError, match="unknown ImagePreprocessor config keys"):
        ImagePreprocessor.from_config({**PRE.to_config(), "crop": 0.9})


def _unshrunk_pixels(img: Image.Image) -> np.ndarray:
    """What pixels() computed before large images were shrunk: the crop resized from full size."""
    side = min(img.size) * PRE.size / PRE.resize
    left, top = (img.size[0] - side) / 2, (img.size[1] - side) / 2
    return np.asarray(img.resize((PRE.size, PRE.size), Image.BILINEAR, box=(left, top, left + side, top + side)))


@pytest.mark.parametrize("fmt", [pytest.param("PNG", marks=pytest.mark.slow), "JPEG"])
def test_large_images_are_shrunk_after_decoding_without_changing_what_the_model_sees(fmt):
    photo = noise(40, 30).resize((4000, 3000), Image.BILINEAR)  # smooth, photo-like
    data = encode(photo, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    decoded = PRE.decode(data)
    assert PRE.working_side <= min(decoded.size) < 2 * PRE.working_side
    assert decoded.size[0] / decoded.size[1] == pytest.approx(4 / 3, rel=0.01)
    full = Image.open(io.BytesIO(data)).convert("RGB")
    diff = np.abs(PRE.pixels(data).astype(int) - _unshrunk_pixels(full))
    assert diff.mean() < 0.5 and diff.max() <= 3
    small = noise(600, 400)  # short side below twice the working side: untouched
    assert PRE.decode(encode(small, "PNG")).size == (600, 400)


def test_large_16bit_image_is_shrunk_and_rescaled():
    values = np.tile(np.array([[0, 65535, 128 * 257, 1000]], dtype=np.uint16).repeat(300, axis=1), (1200, 1))
    decoded = rgb(PRE.decode(encode(Image.fromarray(values), "PNG")))
    assert decoded.shape == (600, 600, 3)  # 1200 x 1200 reduced by 2
    assert [decoded[0, i * 150 + 10, 0] for i in range(4)] == [0, 255, 128, 4]


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_large_16bit_arrays_of_either_byte_order_agree(dtype):
    values = (np.add.outer(np.arange(1200), np.arange(1600)) * 20 % 65536).astype(np.uint16)
    little = rgb(PRE.decode(Image.fromarray(values.astype("<u2"))))
    other = rgb(PRE.decode(Image.fromarray(values.astype(dtype))))
    assert other.shape == little.shape == (600, 800, 3)
    assert np.abs(other.astype(int) - little).max() <= 1


def test_large_transparent_images_are_composited_after_shrinking():
    img = Image.new("RGBA", (2000, 1200), (255, 0, 0, 0))  # transparent red must not bleed into the white
    img.paste((0, 0, 255, 255), (0, 0, 1000, 1200))
    out = rgb(PRE.decode(encode(img, "PNG")))
    assert out.shape == (600, 1000, 3)
    assert tuple(out[300, 100]) == (0, 0, 255) and tuple(out[300, 900]) == (255, 255, 255)
    premultiplied = Image.new("LA", (16, 16), (10, 255)).convert("La")
    assert tuple(rgb(PRE.decode(premultiplied))[0, 0]) == (10, 10, 10)
