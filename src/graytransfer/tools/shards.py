"""`python -m graytransfer.tools.shards data=NAME [data.root=...] image_size=224 out=DIR`: any
data module's splits as pre-decoded LitData shards, for `data=shards data.root=DIR`.

The data module is built exactly as `train.py` builds it (same seed, same split, same checks of
every file), then each split is decoded once, at `image_size`, in `workers` processes, into
LitData chunks (`graytransfer.data.store.shard_writer`). Run the same command again after an
interruption and it resumes; `manifest.json` appears only when every split is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graytransfer.cli import hydra_entry
from graytransfer.config import check_missing
from graytransfer.errors import UserError


def source_record(cfg: DictConfig, size: tuple[int, int]) -> dict[str, Any]:
    """The data config the shards come from (resolved), with the size and seed used."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    return {"data": data, "image_size": list(size), "seed": cfg.seed}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Convert `cfg.data` into `cfg.out`; return the manifest. A missing value (`out`,
    `data.root`) stops it in one line before torch is imported."""
    if OmegaConf.is_missing(cfg, "out"):
        raise UserError("out is required: pass out=DIR, the folder to write the shards into")
    check_missing(cfg)  # data.root, ...: one line, before torch loads
    from graytransfer.data.base import as_size
    from graytransfer.data.sources.shards import ShardDataModule
    from graytransfer.data.store.shard_writer import convert
    from graytransfer.run import build_data

    if cfg.data.get("_target_", "").endswith(ShardDataModule.__name__):
        raise UserError("data=shards is already shards: pick the data module to convert")
    wanted = cfg.image_size
    size = as_size(
        OmegaConf.to_object(wanted) if OmegaConf.is_config(wanted) else wanted, "image_size"
    )
    data = build_data(cfg, size)
    out = Path(str(cfg.out)).expanduser()
    print(f"converting {data.describe()} -> {out}")
    manifest = convert(
        data,
        out,
        source_record(cfg, size),
        workers=int(cfg.workers),
        chunk_bytes=str(cfg.chunk_bytes),
        chunk_size=cfg.chunk_size,
        overwrite=bool(cfg.overwrite),
    )
    counts = ", ".join(f"{name} {r['count']}" for name, r in manifest["splits"].items())
    chunks = sum(len(r["chunks"]) - 1 for r in manifest["splits"].values())
    height, width = size
    print(f"wrote {out}: {counts} images ({manifest['dtype']}, {height}x{width}), {chunks} chunks")
    print(f"train from them with: data=shards data.root={out}")
    return manifest


main = hydra_entry("shards", run)


if __name__ == "__main__":
    main()
