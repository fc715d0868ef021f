"""Safe image decoding and MobileNetV2 preprocessing: one object, saved with every image model.

The same :class:`ImagePreprocessor` (rebuilt from the bundle's manifest with
:meth:`ImagePreprocessor.from_config`) prepares images for training, for feature caching and
for the ONNX runtime, so the encoder never sees pixels prepared differently from what it was
converted and checked with.

Decoding treats every input as hostile: the byte limit is checked before reading, the pixel
limit from the header before any pixel is decoded (decompression bombs), only a short list of
raster formats is opened (never EPS/PDF, which would start Ghostscript), truncated files are
rejected whatever ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` says, and every decoder failure
becomes an :class:`~sentiment_fusion.errors.ImageError` that says what is wrong.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from ..errors import ImageError, ImageTooLargeError

logger = logging.getLogger(__name__)

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

# Modes shrunk before conversion (BOX resizing is right for them and saves the full-size copies).
_SHRINK_FIRST = ("RGB", "RGBA", "L", "LA", "I", "I;16", "I;16L", "F")
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
_LAYOUTS = ("NHWC", "NCHW")
# Raster formats posted on social media ("JPEG" also opens phones' multi-picture MPO files).
# Deliberately not EPS/PDF (Ghostscript), nor the long tail of rarely-fuzzed plugins.
DEFAULT_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
_TRUNCATION_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImagePreprocessor:
    """Decode any image safely and turn a list of images into the encoder's input batch.

    Geometry: the central ``size/resize`` square of the image (the square that
    "resize the shorter side to ``resize``, then center-crop ``size``" would keep) is
    resampled to ``size x size`` in ONE antialiased bilinear resize (PIL's
    ``resize(box=...)``, no rounding of an intermediate size). Aspect ratio is kept (no
    squashing, which shifts ImageNet features) and 224/256 = 0.875 is the central fraction the
    slim MobileNetV2 was evaluated with; a social-media picture loses 1/16 of each border.

    Values: ``(pixel - mean) / std`` per RGB channel, pixels in 0..255. The defaults
    (128, 128) are exactly the TF1 quantized MobileNetV2's uint8 input quantization
    (``real = (q - 128) * 0.0078125``), so the float ONNX graph sees the same numbers the
    TFLite model sees. Output batch: float32 ``[B, size, size, 3]`` (``layout="NHWC"``, the
    converted graph's input) or ``[B, 3, size, size]`` (``"NCHW"``).

    >>> pre = ImagePreprocessor()
    >>> batch = pre([np.zeros((4, 4, 3), np.uint8)])
    >>> batch.shape, batch.dtype, float(batch.min())
    ((1, 224, 224, 3), dtype('float32'), -1.0)
    """

    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = (128.0, 128.0, 128.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    layout: str = "NHWC"
    interpolation: str = "bilinear"
    background: tuple[int, int, int] = (255, 255, 255)  # transparent pixels land on white
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    formats: tuple[str, ...] = DEFAULT_FORMATS

    def __post_init__(self) -> None:
        # Lists from JSON configs become tuples so the object stays hashable and comparable.
        for name in ("mean", "std", "background", "formats"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "formats", tuple(f.upper() for f in self.formats))
        if not (isinstance(self.size, int) and self.size > 0):
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        if not (isinstance(self.resize, int) and self.resize >= self.size):
            raise ValueError(f"resize must be an int >= size ({self.size}), got {self.resize!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean and std need 3 values (R, G, B), got {self.mean!r} and {self.std!r}")
        if any(not s > 0 for s in self.std):
            raise ValueError(f"std values must be > 0, got {self.std!r}")
        if self.layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, got {self.layout!r}")
        if self.interpolation not in _RESAMPLE:
            raise ValueError(f"interpolation must be one of {tuple(_RESAMPLE)}, got {self.interpolation!r}")
        if len(self.background) != 3 or any(not 0 <= int(c) <= 255 for c in self.background):
            raise ValueError(f"background must be 3 ints in 0..255, got {self.background!r}")
        if not (isinstance(self.max_bytes, int) and self.max_bytes > 0):
            raise ValueError(f"max_bytes must be a positive int, got {self.max_bytes!r}")
        if not (isinstance(self.max_pixels, int) and self.max_pixels > 0):
            raise ValueError(f"max_pixels must be a positive int, got {self.max_pixels!r}")
        Image.init()  # registers PIL's plugins (idempotent) so Image.OPEN lists every format
        unknown = [f for f in self.formats if f not in Image.OPEN]
        if unknown or not self.formats:
            raise ValueError(f"unknown or empty image formats {unknown or self.formats!r}")

    # ------------------------------------------------------------------ config
    def to_config(self) -> dict:
        """JSON-ready dict; ``ImagePreprocessor.from_config(p.to_config()) == p``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, config: dict) -> ImagePreprocessor:
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown ImagePreprocessor config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**config)

    def describe(self) -> str:
        """One paragraph for model cards and ``--help`` output."""
        layout = f"[B, {self.size}, {self.size}, 3]" if self.layout == "NHWC" else f"[B, 3, {self.size}, {self.size}]"
        return (
            f"Decode (<= {self.max_bytes} bytes, <= {self.max_pixels} pixels, formats {', '.join(self.formats)}), "
            f"apply EXIF orientation, convert to RGB (transparency over {self.background}), "
            f"take the central {self.size}/{self.resize} square and resize it to {self.size}x{self.size} "
            f"({self.interpolation}, antialiased), then (pixel - {list(self.mean)}) / {list(self.std)} "
            f"as float32 {layout}."
        )

    # ------------------------------------------------------------------ decoding
    def decode(self, source: ImageSource) -> Image.Image:
        """Any supported source -> an RGB ``PIL.Image`` (EXIF-rotated, first frame, no alpha),
        box-reduced by an integer factor when its short side is at least twice
        :attr:`working_side` (JPEGs already while decoding), so large photos cost little memory.

        ``source`` is a path (``str``/``Path``), encoded bytes, a ``PIL.Image`` or an
        ``HxWx3`` uint8 array. Raises :class:`ImageTooLargeError` over a limit and
        :class:`ImageError` for anything that is not a complete, supported image.
        """
        return self._shrink(self._decode(source))

    def _decode(self, source: ImageSource) -> Image.Image:
        if isinstance(source, Image.Image):
            self._check_pixels(source.size, "image")
            try:
                with _strict_truncation():
                    source.load()  # a lazily opened image decodes here
            except Exception as exc:
                raise ImageError(f"image: cannot decode image: {exc or type(exc).__name__}") from exc
            return self._to_rgb(source)
        if isinstance(source, np.ndarray):
            return self._from_array(source)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if len(data) > self.max_bytes:
                raise ImageTooLargeError(f"image is {len(data)} bytes; the limit is {self.max_bytes}")
            return self._decode_bytes(data, "image bytes")
        if isinstance(source, (str, os.PathLike)):
            if not str(source).strip():
                raise ImageError("the image path is empty")
            return self._decode_bytes(self._read_file(Path(source)), str(source))
        raise ImageError(  # an InvalidInputError, like every other bad image
            f"an image must be a path, encoded bytes, a PIL.Image or an HxWx3 uint8 array, got {type(source).__name__}"
        )

    def _read_file(self, path: Path) -> bytes:
        try:
            info = path.stat()
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(info.st_mode):  # opening a pipe without a writer would wait forever
                raise ImageError(f"{path}: not a regular file (a pipe, socket or device)")
            if info.st_size > self.max_bytes:
                raise ImageTooLargeError(f"{path}: {info.st_size} bytes; the image limit is {self.max_bytes}")
            with path.open("rb") as fh:
                # Read one byte past the limit: a file that grows meanwhile cannot slip through.
                data = fh.read(self.max_bytes + 1)
        except FileNotFoundError:
            raise ImageError(f"{path}: no such image file") from None
        except IsADirectoryError:
            raise ImageError(f"{path}: is a directory, not an image file") from None
        except OSError as exc:
            raise ImageError(f"{path}: cannot read image file ({exc.strerror or exc})") from exc
        if len(data) > self.max_bytes:
            raise ImageTooLargeError(f"{path}: more than {self.max_bytes} bytes; the image limit is {self.max_bytes}")
        return data

    def _decode_bytes(self, data: bytes, what: str) -> Image.Image:
        if not data:
            raise ImageError(f"{what}: empty, not an image")
        try:
            img = Image.open(io.BytesIO(data), formats=list(self.formats))
            self._check_pixels(img.size, what)  # header only: nothing decoded yet
            if img.format == "JPEG" and self._shrink_factor(img.size) > 1:
                # Let the JPEG decoder scale down (1/2, 1/4, 1/8) while decoding: a fraction of the memory.
                width, height = img.size
                scale = self.working_side / min(width, height)
                img.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            with _strict_truncation():
                img.load()  # the first frame only, for GIF / APNG / animated WebP
            # load() may have moved to a frame of another size (rare GIF cases): check again.
            self._check_pixels(img.size, what)
            return self._to_rgb(img)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # PIL's own guard fired first: images over 2x its global MAX_IMAGE_PIXELS (always
            # over our default limit too), a global set below our limit, or its warning turned
            # into an error by a warnings filter. Either way: too large, not "not an image".
            # (No warnings.catch_warnings() here: it is not thread-safe in a server.)
            raise ImageTooLargeError(f"{what}: over the pixel limit of {self.max_pixels} (PIL: {exc})") from exc
        except Image.UnidentifiedImageError:
            raise ImageError(f"{what}: not a supported image (accepted formats: {', '.join(self.formats)})") from None
        except MemoryError as exc:
            raise ImageTooLargeError(f"{what}: not enough memory to decode") from exc
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if "truncated" in reason or isinstance(exc, EOFError):
                reason = f"truncated or incomplete image data ({reason})"
            raise ImageError(f"{what}: cannot decode image: {reason}") from exc

    def _check_pixels(self, size: tuple[int, int], what: str) -> None:
        width, height = size
        if width <= 0 or height <= 0:
            raise ImageError(f"{what}: empty image ({width}x{height})")
        if width * height > self.max_pixels:
            raise ImageTooLargeError(
                f"{what}: {width}x{height} = {width * height} pixels; the limit is {self.max_pixels}"
            )

    def _from_array(self, array: np.ndarray) -> Image.Image:
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ImageError(f"an image array must be HxWx3 uint8 (RGB), got shape {array.shape} dtype {array.dtype}")
        self._check_pixels((array.shape[1], array.shape[0]), "image array")
        return Image.fromarray(np.ascontiguousarray(array), "RGB")

    def _to_rgb(self, img: Image.Image) -> Image.Image:
        try:
            # exif_transpose copies an upright image whole: only call it for a turned one.
            if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                img = ImageOps.exif_transpose(img)
        except Exception as exc:  # noqa: BLE001 - a broken EXIF block must not lose the picture
            logger.debug("ignoring unreadable EXIF orientation: %s", exc)
        if img.mode in ("RGBa", "La"):  # premultiplied alpha: PIL converts these only to their plain form
            img = img.convert(img.mode[:-1] + "A")
        if img.mode in ("I;16B", "I;16N"):  # PIL resizes these byte orders wrongly: go through 32-bit ints
            img = img.convert("I")
        if img.mode in _SHRINK_FIRST and "transparency" not in img.info:
            img = self._shrink(img)  # before any full-size copy below
        mode = img.mode
        if mode == "RGB":
            return img
        if mode in ("I;16", "I;16L", "I"):
            # PIL's own convert() clips 16-bit values at 255 (a white picture): rescale instead,
            # round(v / 257) in integers. 'I' is what PIL opens 16-bit greyscale as for some
            # formats; read it as 16-bit too.
            grey = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
            grey = ((grey * 255 + 32767) // 65535).astype(np.uint8)
            grey_img = Image.fromarray(grey, "L")
            return Image.merge("RGB", (grey_img, grey_img, grey_img))
        if mode == "F":
            grey = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
            return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB")
        has_alpha = mode in ("RGBA", "LA", "PA") or (mode in ("P", "L", "1") and "transparency" in img.info)
        if has_alpha:
            rgba = self._shrink(img.convert("RGBA"))  # PIL resizes RGBA with premultiplied alpha
            base = Image.new("RGBA", rgba.size, (*self.background, 255))
            return Image.alpha_composite(base, rgba).convert("RGB")
        return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX

    @property
    def working_side(self) -> int:
        """Images whose short side is at least twice this are shrunk right after decoding."""
        return 2 * self.resize

    def _shrink_factor(self, size: tuple[int, int]) -> int:
        return max(1, min(size) // self.working_side)

    def _shrink(self, img: Image.Image) -> Image.Image:
        """Box-average a large image by an integer factor, keeping its short side >= ``working_side``.

        The model sees ``size`` pixels, so this changes its input by at most a level or two of
        rounding, while a batch of phone photos no longer holds 36 MB of pixels per post.
        """
        factor = self._shrink_factor(img.size)
        if factor == 1:
            return img
        # A BOX resize is an area average like reduce(), and unlike it also takes 16-bit modes.
        return img.resize((img.width // factor, img.height // factor), Image.Resampling.BOX)

    # ------------------------------------------------------------------ arrays
    def pixels(self, source: ImageSource) -> np.ndarray:
        """One image -> the uint8 ``[size, size, 3]`` RGB pixels the model sees (before
        normalization); the TFLite reference in ``scripts/check_mobilenet_fidelity.py`` takes these."""
        img = self.decode(source)
        width, height = img.size
        side = min(width, height) * self.size / self.resize  # central square, in source pixels
        left, top = (width - side) / 2.0, (height - side) / 2.0
        out = img.resize(
            (self.size, self.size), _RESAMPLE[self.interpolation], box=(left, top, left + side, top + side)
        )
        return np.asarray(out, dtype=np.uint8)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 ``[B, size, size, 3]`` -> the float32 batch in this object's layout."""
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1:] != (self.size, self.size, 3):
            raise ValueError(
                f"expected uint8 pixels [B, {self.size}, {self.size}, 3], got {pixels.dtype} {pixels.shape}"
            )
        mean = np.asarray(self.mean, np.float32)
        inv_std = 1.0 / np.asarray(self.std, np.float32)
        batch = (pixels.astype(np.float32) - mean) * inv_std  # (B, H, W, 3)
        if self.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)  # (B, 3, H, W)
        return np.ascontiguousarray(batch, dtype=np.float32)

    def __call__(self, images: Sequence[ImageSource]) -> np.ndarray:
        """A list of images (any :meth:`decode` source) -> float32 batch ``[B, 224, 224, 3]``.

        Deterministic: the same input gives the same bytes on every call.
        """
        if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray)):
            raise TypeError("pass a list of images, e.g. preprocessor([image]), not a single image")
        images = list(images)
        if not images:
            shape = (0, self.size, self.size, 3) if self.layout == "NHWC" else (0, 3, self.size, self.size)
            return np.zeros(shape, np.float32)
        return self.normalize(np.stack([self.pixels(source) for source in images]))


@contextlib.contextmanager
def _strict_truncation() -> Iterator[None]:
    """Make PIL raise on truncated data even if some other code set LOAD_TRUNCATED_IMAGES.

    PIL reads that flag as a module global at load time; when it is already False (the
    default) nothing is touched. Otherwise it is switched off for the duration of one load,
    under a lock, and restored (a truncated JPEG would otherwise decode as a grey block).
    """
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        yield
        return
    with _TRUNCATION_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
