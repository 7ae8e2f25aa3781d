"""Images: the one loader of the judge's runtime and of every pipeline stage that reads image files, and the
judge's pixel pipeline (decode in threads, resize and normalise batched on the model's device)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.transform import MaybeConvertMode, MaybeToTensor
from PIL import Image, ImageFile, ImageOps
from torchvision.transforms import Compose, Normalize

# Where a relative image name is looked for, in order, under the working directory: the folder itself, then the
# folders a challenge's data usually sits in (data.csv beside images/).
IMAGE_DIRS = ("", "images", "data", "data/images", "test", "test/images", "dataset", "dataset/images")
MAX_ASPECT = 4.0  # wider images are padded first, so that resizing cannot blow up
BLANK_RGB = (128, 128, 128)


def search_roots() -> list[Path]:
    """The folders a relative image name is looked for in, first match wins."""
    return [Path.cwd() / base for base in IMAGE_DIRS]


def resolve_image(name) -> Path | None:
    """The file a DataFrame cell names (a str, bytes or any os.PathLike; absolute, or relative to one of
    `search_roots()`), or None when it names no regular file. May raise OSError (a name too long, no permission
    to look): the caller counts the row as unreadable."""
    try:
        text = os.fsdecode(name)
    except TypeError:
        return None
    if not text.strip():
        return None
    path = Path(text)
    for candidate in [path] if path.is_absolute() else [root / path for root in search_roots()]:
        if candidate.is_file():  # directories, sockets and devices are no images
            return candidate
    return None


def _readable_rgb(path: Path, min_side: int) -> Image.Image:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with Image.open(path) as image:
        if min_side:
            image.draft(image.mode, (min_side, min_side))
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float64)
            image = Image.fromarray((255 * array / max(array.max(), 1)).astype(np.uint8))
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        image = image.convert("RGB")
    if max(image.size) / max(1, min(image.size)) > MAX_ASPECT:
        side = max(image.size)
        image = ImageOps.pad(image, (side, max(1, math.ceil(side / MAX_ASPECT))) if image.width > image.height
                             else (max(1, math.ceil(side / MAX_ASPECT)), side), color=BLANK_RGB)
    return image


def load_rgb(name, min_side: int = 0) -> tuple[Image.Image, bool]:
    """The image as 8-bit RGB (EXIF rotation applied, alpha on white, very wide images padded); (blank, False)
    when it cannot be found or read, whatever the reason. A JPEG much larger than `min_side` is decoded at a reduced
    scale (still ≥ min_side)."""
    try:
        path = resolve_image(name)
        if path is not None:
            return _readable_rgb(path, min_side), True
    except Exception:  # any failure to find or decode means "unreadable": the row still gets an embedding
        pass
    return Image.new("RGB", (224, 224), BLANK_RGB), False


class WhiteBalance:
    """Scales the colour channels so that the image's median colour becomes a grey of the same brightness.

    The median pixel of a top-down scene is its floor: a colour cast, or a tinted floor, then reaches the tower as
    a grey floor would. `scope` says which pixels are scaled: "image", every pixel (what stands on the floor keeps
    its colours relative to the floor: right under a cast, wrong on a tinted floor, where a white object turns the
    floor's complement); "floor", only the pixels of the floor's colour at any brightness (its shadows and light
    ramps included), blending into the objects, which keep their own colours. Runs on a PIL image or on uint8
    tensors [..., 3, H, W] (a batch at once), where a transform pipeline's resizing has left them.
    """

    MAX_GAIN = 4.0  # a floor that is nearly black in one channel is not stretched past this
    FLOOR_TOLERANCE = 0.25  # how far a pixel's channels may stray, relative to the floor's, and still be floor

    def __init__(self, scope: str = "image"):
        if scope not in WHITE_BALANCE_SCOPES:
            raise ValueError(f"white balance scope {scope!r}: one of {', '.join(WHITE_BALANCE_SCOPES)}")
        self.scope = scope

    def __call__(self, image):
        if isinstance(image, Image.Image):
            pixels = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
            return Image.fromarray(self(pixels).permute(1, 2, 0).numpy())
        pixels = image.float()
        median = pixels.flatten(-2).median(dim=-1).values.clamp(min=1.0)[..., None, None]  # [..., 3, 1, 1]
        gains = (median.mean(dim=-3, keepdim=True) / median).clamp(1 / self.MAX_GAIN, self.MAX_GAIN)
        balanced = pixels * gains
        if self.scope == "floor":
            balanced = torch.lerp(pixels, balanced, self.floor_weight(pixels, median))
        return balanced.round().clamp(0, 255).to(torch.uint8)

    def floor_weight(self, pixels: torch.Tensor, median: torch.Tensor) -> torch.Tensor:
        """[..., 1, H, W] in [0, 1]: 1 where a pixel is the floor's colour scaled by one factor (lit or shaded),
        to within half the tolerance (grain), falling to 0 where its channels' ratios to the floor's stray by the
        tolerance; smoothed over 3×3 so that object edges blend."""
        ratios = (pixels + 1) / (median + 1)
        level = ratios.mean(dim=-3, keepdim=True)
        stray = (ratios - level).abs().amax(dim=-3, keepdim=True) / level / self.FLOOR_TOLERANCE
        weight = (2 - 2 * stray).clamp(0, 1)
        height, width = weight.shape[-2:]
        smoothed = F.avg_pool2d(weight.reshape(-1, 1, height, width), 3, stride=1, padding=1,
                                count_include_pad=False)
        return smoothed.reshape(weight.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scope={self.scope!r})"


WHITE_BALANCE_SCOPES = ("image", "floor")


def with_white_balance(transform: Compose, scope: str) -> Compose:
    """`transform` with `WhiteBalance(scope)` after its resizing and cropping (on the fewest pixels), before the
    conversion to a normalised tensor."""
    steps = list(transform.transforms)
    at = next(i for i, t in enumerate(steps) if isinstance(t, (MaybeConvertMode, MaybeToTensor, Normalize)))
    return Compose(steps[:at] + [WhiteBalance(scope)] + steps[at:])


class PixelPipeline:
    """open_clip's eval transform split where it is cheapest to run.

    Decode threads only decode to 8-bit RGB (Pillow releases the GIL while it decodes); resizing, cropping and
    normalising run on the model's device, batched per image size (torchvision on uint8 tensors matches PIL to a
    quarter of a grey level on average, up to 5 at sharp edges). A transform that cannot run on tensors
    (open_clip's `longest` resize mode) runs in the decode threads on PIL images instead.
    """

    def __init__(self, transform: Compose, device: str, dtype: torch.dtype):
        self.geometry = Compose([t for t in transform.transforms
                                 if not isinstance(t, (MaybeConvertMode, MaybeToTensor, Normalize))])
        normalize = next(t for t in transform.transforms if isinstance(t, Normalize))
        self.mean = 255 * torch.tensor(normalize.mean, device=device).view(1, 3, 1, 1)
        self.std = 255 * torch.tensor(normalize.std, device=device).view(1, 3, 1, 1)
        self.dtype = dtype
        # A large JPEG is decoded at a reduced DCT scale, but never below twice the input size: the antialiased
        # resize that follows then still decides the pixels (at the input size itself, rows drifted to cosine 0.98).
        self.min_side = 2 * max(self.geometry(Image.new("RGB", (640, 480))).size)
        try:
            self.geometry(torch.zeros(1, 3, 480, 640, dtype=torch.uint8))
            self.on_device = True
        except (TypeError, AttributeError):
            self.on_device = False

    def decode(self, name) -> tuple[np.ndarray, bool]:
        """HWC uint8 pixels (already the final size when the geometry cannot run on tensors)."""
        image, ok = load_rgb(name, self.min_side)
        return np.asarray(image if self.on_device else self.geometry(image)), ok

    def decode_chunk(self, names: list, pin: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images packed into one flat uint8 tensor (pinned for the copy to the GPU), their shapes, and whether
        each could be read: one buffer per chunk, whatever the image sizes."""
        arrays, ok = zip(*(self.decode(name) for name in names))
        flat = torch.empty(sum(a.size for a in arrays), dtype=torch.uint8, pin_memory=pin)
        np.concatenate([a.reshape(-1) for a in arrays], out=flat.numpy())
        return flat, torch.tensor([a.shape[:2] for a in arrays]), torch.tensor(ok)

    def __call__(self, flat: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
        """Device side: pixels packed by `decode_chunk` → a normalised NCHW batch."""
        images = flat.split((shapes.prod(dim=1) * 3).tolist())
        sizes = [tuple(shape) for shape in shapes.tolist()]
        resized = [None] * len(images)
        for size in dict.fromkeys(sizes):
            members = [i for i, s in enumerate(sizes) if s == size]
            batch = torch.stack([images[i].view(*size, 3) for i in members]).permute(0, 3, 1, 2)
            for i, pixels in zip(members, self.geometry(batch) if self.on_device else batch):
                resized[i] = pixels
        mean, std = self.mean.to(flat.device), self.std.to(flat.device)  # host-side when the device is full
        return ((torch.stack(resized).float() - mean) / std).to(self.dtype)
