"""Retrieval galleries: a PNG of queries with their reference, target and top retrieved images."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from submission_src.images import load_rgb

THUMB = 128
CAPTION = 44


def _thumb(path: Path, border: str | None = None) -> Image.Image:
    thumb = load_rgb(str(path))[0].resize((THUMB, THUMB))  # as the model sees it: EXIF-rotated, alpha on white
    if border:
        ImageDraw.Draw(thumb).rectangle((0, 0, THUMB - 1, THUMB - 1), outline=border, width=4)
    return thumb


def draw_gallery(rows: pd.DataFrame, images_dir: Path, title: str, out: Path, top: int = 3) -> None:
    """One row per query: reference, target, then the top retrieved images (green = the target)."""
    width = (2 + top) * THUMB
    sheet = Image.new("RGB", (width, 24 + len(rows) * (THUMB + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((4, 4), title, fill="black", font=font)
    for i, row in enumerate(rows.itertuples()):
        y = 24 + i * (THUMB + CAPTION)
        sheet.paste(_thumb(images_dir / row.query_image), (0, y))
        sheet.paste(_thumb(images_dir / row.target_image, "royalblue"), (THUMB, y))
        for j, name in enumerate(list(row.top)[:top]):
            sheet.paste(_thumb(images_dir / name, "green" if name == row.target_image else "red"), ((2 + j) * THUMB, y))
        caption = f"{row.query_text}  |  add {list(row.add)} remove {list(row.remove)}  |  rank {row.rank}"
        for k, line in enumerate(textwrap.wrap(caption, width // 6)[:3]):
            draw.text((4, y + THUMB + 2 + 13 * k), line, fill="black", font=font)
    sheet.save(out)
