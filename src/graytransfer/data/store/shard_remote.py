"""Shard folders in object storage (`s3://`, `gs://`, `azure://`): credentials checked first,
then the small files (`manifest.json`, `split.csv`) fetched through LitData's own providers.
The chunks themselves are streamed by LitData into its cache while training."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

from graytransfer.data.store.shard_manifest import MANIFEST, SPLIT_FILE
from graytransfer.errors import UserError

SCHEMES = ("s3", "gs", "azure")


def litdata() -> ModuleType:
    """The `litdata` module, or a one-line UserError saying how to install it (it is an extra:
    `pip install 'graytransfer[shards]'`, included in `dev`)."""
    try:
        import litdata as module
    except ImportError as err:
        raise UserError(
            "LitData shards need the litdata package: pip install 'graytransfer[shards]'"
        ) from err
    return module


def is_remote(root: str) -> bool:
    return "://" in str(root)


def check_credentials(url: str, storage_options: dict[str, Any]) -> None:
    """A one-line UserError when `url`'s store has no credentials (before any network call
    that would fail with a provider's traceback or hang on retries)."""
    scheme = urlparse(url).scheme
    if scheme not in SCHEMES:
        raise UserError(
            f"data.root '{url}': '{scheme}://' is not supported; use a local folder or "
            f"{', '.join(s + '://' for s in SCHEMES)}"
        )
    if storage_options:  # credentials (or an anonymous endpoint) given explicitly
        return
    if scheme == "s3":
        import boto3

        found = boto3.Session().get_credentials() is not None
        where = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials"
    elif scheme == "gs":
        found = (
            bool(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
            or Path("~/.config/gcloud/application_default_credentials.json").expanduser().is_file()
        )
        where = "GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`"
    else:
        found = bool(os.environ.get("AZURE_STORAGE_CONNECTION_STRING"))
        where = "AZURE_STORAGE_CONNECTION_STRING"
    if not found:
        raise UserError(
            f"data.root '{url}' needs {scheme} credentials and none were found: set {where}, "
            "or pass them in data.storage_options"
        )


def fetch_small_files(url: str, storage_options: dict[str, Any], cache_dir: str | None) -> Path:
    """Download `manifest.json` and `split.csv` of `url` into a local folder; return it."""
    check_credentials(url, storage_options)
    from litdata.streaming.fs_provider import _get_fs_provider

    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    base = Path(cache_dir).expanduser() if cache_dir else Path("~/.cache/graytransfer").expanduser()
    local = base / "shards" / key
    local.mkdir(parents=True, exist_ok=True)
    provider = _get_fs_provider(url, storage_options)
    for name in (MANIFEST, SPLIT_FILE):
        target = local / name
        partial = local / f".{name}.partial"
        try:
            provider.download_file(f"{url.rstrip('/')}/{name}", str(partial))
        except Exception as err:  # the providers raise their own types (botocore, google...)
            raise UserError(
                f"cannot read '{url.rstrip('/')}/{name}': {type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}; check the URL and credentials"
            ) from None
        os.replace(partial, target)
    return local
