"""Where images are held for the loaders: datasets and shards.

`in_memory` (`InMemoryImages`: decoded, resized integer images in memory), `file_images`
(`ImageFiles`: files decoded as the loader reads them, bad files stopped or skipped), and the
LitData shards: `shard_writer` (what `python -m graytransfer.tools.shards` writes, resumably),
`shard_manifest` (the manifest and its checks) and `shard_remote` (s3/gs/azure roots).

May import `graytransfer.data`'s shared modules and `decode`; no source.
"""
