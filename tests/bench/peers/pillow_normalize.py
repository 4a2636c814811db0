"""The Python peer of the normalize benchmark: the work captionflow's normalize step does per
image, written as a Python/Spark-era pipeline would do it with Pillow, numpy and imagehash, on a
process pool of one process per core (the GIL rules out threads for this work).

Per image: SHA-256 of the original; decode with EXIF orientation applied, shrinking on load
(`Image.draft`, as sharp's shrink-on-load does) to the smallest working size that serves every
output; sRGB RGB; a square model input (cover, centre) and a thumbnail (inside), each WebP at the
same quality with its SHA-256; dHash and pHash (imagehash); blur (variance of the Laplacian of
luma), brightness and contrast on the luma scaled to fit the analysis size.

Usage: python pillow_normalize.py <list-file> <rounds> <processes> <model-size> <thumb-side>
  <analysis-side> <webp-quality>
The list file holds one image path per line. Prints one JSON line: seconds per round (the pool is
started and warmed before the clock), images, failures.
"""

import hashlib
import io
import json
import sys
import time
from multiprocessing import Pool

import imagehash
import numpy as np
from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = 100_000_000

ARGS = {}


def init(model_size, thumb_side, analysis_side, quality):
    ARGS.update(model=model_size, thumb=thumb_side, analysis=analysis_side, quality=quality)


def webp(image):
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=ARGS["quality"])
    data = out.getvalue()
    return hashlib.sha256(data).hexdigest(), len(data)


def normalize(path):
    with open(path, "rb") as f:
        data = f.read()
    original_sha = hashlib.sha256(data).hexdigest()
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    need = max(ARGS["thumb"], ARGS["analysis"], ARGS["model"] * max(width, height) // max(1, min(width, height)))
    scale = need / max(width, height)
    if scale < 1:
        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        if "A" in image.getbands():
            background = Image.new("RGB", image.size, (0, 0, 0))
            background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
            image = background
        else:
            image = image.convert("RGB")
    w, h = image.size
    scale = min(1.0, need / max(w, h))
    if scale < 1:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    model = ImageOps.fit(image, (ARGS["model"], ARGS["model"]), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    thumb = image.copy()
    thumb.thumbnail((ARGS["thumb"], ARGS["thumb"]), Image.Resampling.LANCZOS)
    model_sha, _ = webp(model)
    thumb_sha, _ = webp(thumb)
    dhash = str(imagehash.dhash(image))
    phash = str(imagehash.phash(image))
    luma_image = image.copy()
    luma_image.thumbnail((ARGS["analysis"], ARGS["analysis"]), Image.Resampling.LANCZOS)
    luma = np.asarray(luma_image.convert("L"), dtype=np.float32)
    lap = -4 * luma[1:-1, 1:-1] + luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]
    return {
        "sha256": original_sha,
        "model": model_sha,
        "thumb": thumb_sha,
        "dhash": dhash,
        "phash": phash,
        "blur": float(lap.var()),
        "brightness": float(luma.mean() / 255),
        "contrast": float(luma.std() / 255),
    }


def safe(path):
    try:
        normalize(path)
        return True
    except Exception:
        return False


def main():
    list_file, rounds, processes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model_size, thumb_side, analysis_side, quality = (int(a) for a in sys.argv[4:8])
    with open(list_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    seconds = []
    failed = 0
    with Pool(processes, initializer=init, initargs=(model_size, thumb_side, analysis_side, quality)) as pool:
        # Warm every process (imports, codecs) on the smallest image before the clock.
        smallest = min(paths, key=lambda p: len(open(p, "rb").read()))
        pool.map(safe, [smallest] * processes * 2, chunksize=1)
        for _ in range(rounds):
            start = time.perf_counter()
            results = pool.map(safe, paths, chunksize=1)
            seconds.append(time.perf_counter() - start)
            failed += results.count(False)
    print(json.dumps({"seconds": seconds, "images": len(paths), "failed": failed}))


if __name__ == "__main__":
    main()
