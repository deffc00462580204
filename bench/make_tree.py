"""Makes the benchmark tree: about 25,000 files and 400 MB, deterministic (seeded), shaped like a
source checkout: many small text files that compress like code, some larger binaries, a few
symlinks and executables, in a few hundred directories."""
import os
import random
import sys

root = sys.argv[1]
rng = random.Random(20261129)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 12)))
         for _ in range(5000)]
os.makedirs(root, exist_ok=True)
total = 0
files = 0
for d in range(500):
    sub = os.path.join(root, f"pkg{d:03d}", f"mod{d % 17}")
    os.makedirs(sub, exist_ok=True)
    for f in range(48):
        path = os.path.join(sub, f"file{f:02d}.src")
        size = int(rng.expovariate(1 / 10000)) + 64
        line = []
        out = bytearray()
        while len(out) < size:
            out += b" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + b";\n"
        with open(path, "wb") as fh:
            fh.write(out[:size])
        total += size
        files += 1
        if f == 0:
            os.chmod(path, 0o755)
    if True:
        path = os.path.join(sub, "blob.bin")
        size = 320_000
        with open(path, "wb") as fh:
            fh.write(rng.randbytes(size))
        total += size
        files += 1
    if d % 50 == 0:
        os.symlink("file00.src", os.path.join(sub, "link"))
print(f"bench tree: {files} files, {total / 1e6:.0f} MB in {root}", file=sys.stderr)
