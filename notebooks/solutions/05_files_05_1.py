"""Solution to exercise 05.1 (checksum while streaming) in 05_files.ipynb."""

def streamed_sha256(chunks):
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
