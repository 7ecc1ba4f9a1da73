"""Images for the client tests, built here (no registry is reachable):

- busybox: busybox-static with its applets, /etc/passwd with users 0 and
  1000, and the static probes memhog, forkmany and keyring in /bin;
- scratch: nothing but one static binary, /hello (tests/support/probes/hello.c).

Docker and Podman take a rootfs tarball (`import`); containerd takes an OCI
image layout archive, written here by `oci_archive`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from tests.support.bundle import make_busybox_rootfs
from tests.support.isolation import build_probe

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def busybox_rootfs(dest: Path, probes_dir: Path) -> Path:
    make_busybox_rootfs(dest)
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/:/bin/false\n")
    (dest / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n")
    for probe in ("memhog", "forkmany", "keyring"):
        (dest / "bin" / probe).write_bytes(build_probe(probe, probes_dir).read_bytes())
        (dest / "bin" / probe).chmod(0o755)
    return dest


def scratch_rootfs(dest: Path, probes_dir: Path) -> Path:
    dest.mkdir(parents=True)
    (dest / "hello").write_bytes(build_probe("hello", probes_dir).read_bytes())
    (dest / "hello").chmod(0o755)
    return dest


def rootfs_tar(rootfs: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for child in sorted(rootfs.iterdir()):
            tar.add(child, arcname=child.name)
    return out


def _blob(tar: tarfile.TarFile, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}", len(data)


def oci_archive(layer_tar: Path, out: Path, name: str, cmd: list[str]) -> Path:
    """An OCI image layout (image-spec v1) in a tar, with one uncompressed
    layer; `ctr images import` reads the image name from the
    io.containerd.image.name annotation of index.json."""
    layer = layer_tar.read_bytes()
    with tarfile.open(out, "w") as tar:
        layer_digest, layer_size = _blob(tar, layer)
        config = {
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": cmd, "Env": [PATH_ENV]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
        cfg_digest, cfg_size = _blob(tar, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer_size}],
        }
        man_digest, man_size = _blob(tar, json.dumps(manifest).encode())
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": man_digest, "size": man_size,
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
        }]}
        for fname, data in (("index.json", json.dumps(index).encode()),
                            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')):
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out
