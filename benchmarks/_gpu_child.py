"""Child process of the GPU benchmark.

    python benchmarks/_gpu_child.py probe
    python benchmarks/_gpu_child.py throughput DEVICE MANIFEST_DIR BATCH ITERS ROUNDS
    python benchmarks/_gpu_child.py images FOLDER COUNT
    python benchmarks/_gpu_child.py loop DEVICE FOLDER BATCH WORKERS OUT

``throughput`` times each manifest of MANIFEST_DIR in bfloat16 against the bare
timm module it wraps, alternating blocks of ITERS batches; ``loop`` is the plain
PyTorch baseline of ``zoo embed`` (DataLoader, bare timm model, one output file).
Each prints ``BENCH {json}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def emit(data: dict[str, Any]) -> None:
    print("BENCH " + json.dumps(data))


def probe() -> None:
    import torch

    ok = torch.cuda.is_available()
    emit({"cuda": ok, "name": torch.cuda.get_device_name(0) if ok else None})


def throughput(device: str, folder: str, batch: int, iters: int, rounds: int) -> None:
    import torch

    import zoo

    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    out: dict[str, Any] = {}
    for manifest in sorted(Path(folder).glob("*.yaml")):
        model = zoo.load_manifest(manifest, pretrained=False, device=dev, dtype="bfloat16")
        bare = model.backbone
        x = torch.randn(batch, 3, 224, 224, device=dev, dtype=torch.bfloat16)
        times: dict[str, list[float]] = {"zoo": [], "bare": []}
        with torch.inference_mode():
            if not torch.equal(model(x), bare(x)):
                raise SystemExit(f"{manifest.stem}: zoo and the bare model disagree")
            for _ in range(3):
                model(x), bare(x)
            for r in range(rounds):
                pairs = [("zoo", model), ("bare", bare)]
                for label, fn in pairs if r % 2 == 0 else pairs[::-1]:
                    sync()
                    start = time.perf_counter()
                    for _ in range(iters):
                        fn(x)
                    sync()
                    times[label].append(batch * iters / (time.perf_counter() - start))
        out[manifest.stem] = times
        del model, bare, x
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    emit(out)


def images(folder: str, count: int) -> None:
    import numpy as np
    from PIL import Image

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path / f"{i:06d}.png")


def loop(device: str, folder: str, batch: int, workers: int, out: str) -> None:
    """What a user writes without zoo: DataLoader, torchvision transforms, bare model, save."""
    import timm
    import torch
    from PIL import Image
    from safetensors.torch import save_file
    from torchvision import transforms

    files = sorted(Path(folder).glob("*.png"))
    tf = transforms.Compose(
        [
            transforms.Resize(248, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )

    class Images(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, i: int) -> Any:
            with Image.open(files[i]) as im:
                return tf(im.convert("RGB"))

    dev = torch.device(device)
    model = timm.create_model("vit_small_patch16_224", num_classes=0).to(dev, torch.bfloat16).eval()
    loader = torch.utils.data.DataLoader(
        Images(), batch_size=batch, num_workers=workers, pin_memory=dev.type == "cuda"
    )
    chunks = []
    with torch.inference_mode():
        for x in loader:
            chunks.append(model(x.to(dev, torch.bfloat16, non_blocking=True)).float().cpu())
    Path(out).mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": torch.cat(chunks)}, str(Path(out) / "embeddings.safetensors"))
    emit({"images": len(files)})


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "probe":
        probe()
    elif mode == "throughput":
        throughput(args[0], args[1], *map(int, args[2:]))
    elif mode == "images":
        images(args[0], int(args[1]))
    elif mode == "loop":
        loop(args[0], args[1], int(args[2]), int(args[3]), args[4])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
