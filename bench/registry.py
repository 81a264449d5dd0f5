#!/usr/bin/env python3
"""Time `postrender mirror` / `lock` against `skopeo sync` on local registries (issue 17).

    python bench/registry.py [--images 20] [--layer-kib 512] [--jobs 8]

Starts two docker-registry processes on 127.0.0.1 (tests/registry_servers.py: an anonymous
source and an empty mirror), pushes IMAGES images (every third a 3-platform index; two layers
of random bytes each) with skopeo, then times, in this order: `postrender mirror` (first run,
copies everything), `postrender mirror` again (copies nothing), `postrender lock`, the pinned
`postrender run`, and `skopeo sync` of `mirror --dry-run --format skopeo-sync` into a second
empty mirror, for scale.  Checks that both mirrors hold the source's digests.  Needs
docker-registry and skopeo (apt-get install docker-registry skopeo).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.registry_servers import Layout, Registry, free_port, push, skopeo_digest  # noqa: E402


def timed(args, **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    proc = subprocess.run([str(a) for a in args], capture_output=True, timeout=1800, **kwargs)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))}: exit {proc.returncode}\n{proc.stderr.decode()}")
    return elapsed, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layer-kib", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        servers = []
        try:
            source = Registry(root / "source", free_port()).start()
            servers.append(source)
            mirror = Registry(root / "mirror", free_port()).start()
            servers.append(mirror)
            skopeo_target = Registry(root / "skopeo", free_port()).start()
            servers.append(skopeo_target)
            layout = Layout(root / "layout")
            images = []
            for n in range(args.images):
                def image(arch="amd64", variant=None):
                    return layout.image(f"{n} {arch} " + os.urandom(args.layer_kib * 512).hex(), arch=arch,
                                        variant=variant, layers=2)
                if n % 3 == 0:
                    descriptor = layout.index([image(), image("arm64"), image("arm", "v7")])
                else:
                    descriptor = image()
                layout.tag(descriptor, f"t{n}")
                push(layout, f"t{n}", source, f"bench/app{n}", "1.0")
                images.append(f"bench/app{n}:1.0")
            stream = "---\n".join(
                f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{n}}}\nspec:\n  containers:\n"
                f"    - {{name: c, image: '{source.host}/{image}'}}\n" for n, image in enumerate(images))
            (root / "in.yaml").write_text(stream)
            for name, target in (("postrender.yaml", mirror), ("skopeo.yaml", skopeo_target)):
                (root / name).write_text(
                    "apiVersion: postrender/v1alpha1\nkind: PostRenderer\nrules:\n  - registryRewrite:\n"
                    f"      mirrors: [{{from: '{source.host}', to: '{target.host}/m'}}]\n"
                    "  - pinDigests: {lock: lock.yaml}\n")
            env = {**os.environ, "DOCKER_CONFIG": str(root / "docker"), "HOME": str(root)}
            pr = [sys.executable, "-m", "postrender"]
            common = ["-c", root / "postrender.yaml", "-i", root / "in.yaml", "--jobs", args.jobs]
            first, p1 = timed([*pr, "mirror", *common], env=env)
            second, p2 = timed([*pr, "mirror", *common], env=env)
            lock, _ = timed([*pr, "lock", *common, "-o", root / "lock.yaml"], env=env)
            pinned, p4 = timed([*pr, "-c", root / "postrender.yaml", "-i", root / "in.yaml"], env=env)
            _, plan = timed([*pr, "mirror", "-c", root / "skopeo.yaml", "-i", root / "in.yaml", "--dry-run",
                             "--format", "skopeo-sync"], env=env)
            sync_time = 0.0
            for i, document in enumerate(plan.stdout.decode().split("---\n")):
                command = re.search(r"^# (skopeo sync .*) THIS_FILE (\S+)$", document, re.M)
                path = root / f"sync{i}.yaml"
                path.write_text(document)
                elapsed, _ = timed([*command.group(1).split(), path, command.group(2)])
                sync_time += elapsed
            for image in images:
                want = skopeo_digest(source, image)
                assert skopeo_digest(mirror, f"m/{image}") == want, image
                assert skopeo_digest(skopeo_target, f"m/{image}") == want, image
            assert p4.stdout.decode().count("@sha256:") == len(images)
            size = sum(f.stat().st_size for f in (layout.directory / "blobs" / "sha256").iterdir())
            print(f"{len(images)} images ({sum(1 for n in range(args.images) if n % 3 == 0)} with 3 platforms),"
                  f" {size / 2**20:.1f} MiB of blobs, --jobs {args.jobs}")
            print(f"  postrender mirror, first run : {first:6.2f} s   {p1.stderr.decode().strip().splitlines()[-1]}")
            print(f"  postrender mirror, second run: {second:6.2f} s   {p2.stderr.decode().strip().splitlines()[-1]}")
            print(f"  postrender lock              : {lock:6.2f} s")
            print(f"  postrender run (pinDigests)  : {pinned:6.2f} s")
            print(f"  skopeo sync of the plan      : {sync_time:6.2f} s (for scale; sequential)")
        finally:
            for server in reversed(servers):
                server.stop()


if __name__ == "__main__":
    main()
