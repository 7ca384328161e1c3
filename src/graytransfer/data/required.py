"""Keys a data config must be given (`???` in `conf/data/*.yaml`), checked before any work."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from graytransfer.errors import UserError

#: what each required key takes, for the message
WHAT = {
    "root": "DIR, a folder with one sub-folder of images per class",
    "csv": "FILE, a CSV of path,label rows",
}


def check_required(data: DictConfig, prefix: str = "data") -> None:
    """Raise a one-line UserError naming the first key of `data` left at `???` (e.g.
    `data.root` of `data=folder`), so a run stops before the backbone is built."""
    for key in data:
        if OmegaConf.is_missing(data, key):
            what = WHAT.get(str(key), "VALUE")
            raise UserError(f"{prefix}.{key} is required: pass {prefix}.{key}={what}")
