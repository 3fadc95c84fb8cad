"""Solution to exercise 05.1 (checksum while streaming) in 05_files.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def streamed_sha256(chunks):
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
