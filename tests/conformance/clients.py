"""Drive real registry clients (umoci, skopeo, podman, buildah, oras-py) without a daemon.

Everything runs against plain HTTP on 127.0.0.1 with private state under a temporary
directory: no containers-storage, config, auth file, policy or temp files are shared with
the host.

Flags that matter here (and why):

* skopeo ``--policy FILE``, podman/buildah ``--signature-policy FILE``: a private
  ``insecureAcceptAnything`` policy, so the tests do not depend on /etc/containers/policy.json.
* ``--tls-verify=false`` (podman, buildah, skopeo inspect/delete) and
  ``--src-tls-verify=false`` / ``--dest-tls-verify=false`` (skopeo copy): the registry
  speaks plain HTTP on 127.0.0.1.
* skopeo copy ``--preserve-digests``: fail instead of silently converting a manifest, so
  digest equality is a real check; ``--all`` copies every image of an index.
* podman ``--root/--runroot/--tmpdir/--network-config-dir/--volumepath``, buildah
  ``--root/--runroot``: private state (``--tmpdir`` keeps libpod's state out of /run/libpod).
  podman refuses a runroot longer than 50 characters, so it lives in a short /tmp dir.
  buildah has no network-config flag: ``network_config_dir`` in the private containers.conf
  keeps it from creating /etc/containers/networks.
* ``--storage-driver vfs``: no overlay mounts, no fuse-overlayfs, works anywhere as root.
* podman ``--cgroup-manager cgroupfs --events-backend file``: no systemd or journald here.
* environment ``CONTAINERS_CONF``, ``CONTAINERS_STORAGE_CONF``, ``CONTAINERS_REGISTRIES_CONF``
  (private, minimal files), ``REGISTRY_AUTH_FILE`` (must exist: podman fails with
  "stat ...: no such file" otherwise) and ``TMPDIR`` (containers/image spools big blobs to
  /var/tmp by default).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.common.servers import ADMIN

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
REF_NAME = "org.opencontainers.image.ref.name"
TITLE = "org.opencontainers.image.title"

COMMAND_TIMEOUT = 120.0


# --------------------------------------------------------------------------- processes


class CommandError(RuntimeError):
    """A client command exited non-zero (or timed out); carries its output."""

    def __init__(self, args: Sequence[str], returncode: int | None, stdout: str, stderr: str):
        self.command = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"command failed (rc={returncode}): {' '.join(args)}\n"
            f"--- stdout ---\n{stdout[-4000:]}\n--- stderr ---\n{stderr[-4000:]}"
        )


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> str:
    """Run a command, return its stdout; raise CommandError with stdout/stderr on failure."""
    try:
        proc = subprocess.run(
            list(args),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise CommandError(args, None, out, err + f"\n(timed out after {timeout}s)") from exc
    if proc.returncode != 0:
        raise CommandError(args, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def require_binaries(*names: str) -> None:
    """Skip the calling test when a client binary is not on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"client binary not on PATH: {', '.join(missing)}")


# --------------------------------------------------------------------------- private config


@dataclass(frozen=True)
class ClientEnv:
    """Private containers/* configuration for skopeo, podman and buildah under ``base``.

    ``run_root`` is separate because podman refuses a runroot longer than 50 characters
    ("the specified runroot is longer than 50 characters"), which pytest's tmp_path is.
    """

    base: Path
    run_root: Path

    @classmethod
    def create(cls, base: Path, run_root: Path) -> ClientEnv:
        if len(str(run_root)) > 50:
            raise ValueError(f"podman needs a runroot of at most 50 characters: {run_root}")
        base.mkdir(parents=True, exist_ok=True)
        run_root.mkdir(parents=True, exist_ok=True)
        self = cls(base, run_root)
        self.tmp.mkdir(exist_ok=True)
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.auth_file.write_text(json.dumps({"auths": {}}))
        self.registries_conf.write_text("unqualified-search-registries = []\n")
        self.containers_conf.write_text(
            "[engine]\n"
            'events_logger = "file"\n'
            'cgroup_manager = "cgroupfs"\n'
            "[network]\n"
            # buildah has no flag for this; its default is /etc/containers/networks.
            f"network_config_dir = {json.dumps(str(self.network_config_dir))}\n"
        )
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f"graphroot = {json.dumps(str(self.storage_root))}\n"
            f"runroot = {json.dumps(str(self.run_root))}\n"
        )
        return self

    def set_credentials(self, host: str, username: str | None, password: str = "") -> None:
        """Store (or, with ``username`` None, drop) credentials for ``host`` in the private
        auth file, as ``podman login`` would."""
        auths = json.loads(self.auth_file.read_text()).get("auths", {})
        if username is None:
            auths.pop(host, None)
        else:
            auths[host] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
        self.auth_file.write_text(json.dumps({"auths": auths}))

    @property
    def policy(self) -> Path:
        return self.base / "policy.json"

    @property
    def auth_file(self) -> Path:
        return self.base / "auth.json"

    @property
    def registries_conf(self) -> Path:
        return self.base / "registries.conf"

    @property
    def containers_conf(self) -> Path:
        return self.base / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.base / "storage.conf"

    @property
    def storage_root(self) -> Path:
        return self.base / "storage"

    @property
    def network_config_dir(self) -> Path:
        return self.base / "networks"

    @property
    def tmp(self) -> Path:
        return self.base / "tmp"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERS_")}
        env.update(
            {
                "CONTAINERS_CONF": str(self.containers_conf),
                "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
                "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
                "REGISTRY_AUTH_FILE": str(self.auth_file),
                "TMPDIR": str(self.tmp),
            }
        )
        return env


# --------------------------------------------------------------------------- OCI layouts


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def read_layout_index(layout: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((layout / "index.json").read_text())
    return doc


def layout_descriptor(layout: Path, tag: str) -> dict[str, Any]:
    """The descriptor that ``index.json`` of an OCI layout holds for ``tag``."""
    for desc in read_layout_index(layout).get("manifests", []):
        if (desc.get("annotations") or {}).get(REF_NAME) == tag:
            return dict(desc)
    raise KeyError(f"tag {tag!r} not in layout {layout}")


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, hexpart = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexpart


def read_blob(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def read_json_blob(layout: Path, digest: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(read_blob(layout, digest))
    return doc


def write_blob(layout: Path, data: bytes) -> str:
    digest = sha256_digest(data)
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def set_layout_refs(layout: Path, refs: Mapping[str, dict[str, Any] | None]) -> None:
    """Point tags of a layout's ``index.json`` at descriptors (None removes the tag)."""
    index = read_layout_index(layout)
    kept = [
        d for d in index.get("manifests", [])
        if (d.get("annotations") or {}).get(REF_NAME) not in refs
    ]
    for tag, desc in refs.items():
        if desc is not None:
            annotations = {**(desc.get("annotations") or {}), REF_NAME: tag}
            kept.append({**desc, "annotations": annotations})
    index["manifests"] = kept
    (layout / "index.json").write_text(json.dumps(index))


def umoci_init(layout: Path) -> None:
    """Create an empty OCI image layout (no-op if one is there)."""
    if not (layout / "index.json").exists():
        run(["umoci", "init", "--layout", str(layout)])


def _rootless_flag() -> list[str]:
    return [] if os.geteuid() == 0 else ["--rootless"]


def umoci_build_image(
    layout: Path,
    tag: str,
    files: Mapping[str, bytes],
    *,
    workdir: Path,
    arch: str = "amd64",
    os_name: str = "linux",
) -> dict[str, Any]:
    """Build a one-layer image from scratch into ``layout:tag``; return its descriptor.

    ``umoci new`` (empty image), ``umoci config`` (platform), ``umoci unpack`` into a bundle,
    write ``files`` into its rootfs, ``umoci repack`` (one new layer).
    """
    umoci_init(layout)
    image = f"{layout}:{tag}"
    run(["umoci", "new", "--image", image])
    run(["umoci", "config", "--image", image, "--architecture", arch, "--os", os_name,
         "--config.cmd", "/bin/true", "--author", "moorage-tests"])
    bundle = workdir / f"bundle-{tag}"
    if bundle.exists():
        shutil.rmtree(bundle)
    run(["umoci", "unpack", *_rootless_flag(), "--image", image, str(bundle)])
    rootfs = bundle / "rootfs"
    for name, content in files.items():
        target = rootfs / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    run(["umoci", "repack", "--image", image, str(bundle)])
    shutil.rmtree(bundle)
    run(["umoci", "gc", "--layout", str(layout)])
    return layout_descriptor(layout, tag)


def build_multiarch_layout(
    layout: Path,
    tag: str,
    per_arch_files: Mapping[str, Mapping[str, bytes]],
    *,
    workdir: Path,
    os_name: str = "linux",
) -> dict[str, Any]:
    """Build one umoci image per architecture and tie them into an OCI index at ``tag``.

    umoci has no index support, so the index JSON is written as a blob here and
    ``index.json`` is pointed at it; the per-arch tags are removed again. Returns the
    index descriptor.
    """
    children: list[dict[str, Any]] = []
    for arch, files in per_arch_files.items():
        desc = umoci_build_image(layout, f"{tag}-{arch}", files, workdir=workdir, arch=arch,
                                 os_name=os_name)
        children.append({
            "mediaType": desc["mediaType"],
            "digest": desc["digest"],
            "size": desc["size"],
            "platform": {"architecture": arch, "os": os_name},
        })
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    index_desc = {"mediaType": OCI_INDEX, "digest": write_blob(layout, index), "size": len(index)}
    refs: dict[str, dict[str, Any] | None] = {f"{tag}-{arch}": None for arch in per_arch_files}
    refs[tag] = index_desc
    set_layout_refs(layout, refs)
    return layout_descriptor(layout, tag)


def tar_files(layer: bytes) -> dict[str, bytes]:
    """Regular files of a (possibly gzip-compressed) tar layer, by path without leading ./ or /."""
    if layer[:2] == b"\x1f\x8b":
        layer = gzip.decompress(layer)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                name = member.name
                while name.startswith(("./", "/")):
                    name = name[2:] if name.startswith("./") else name[1:]
                files[name] = handle.read()
    return files


# --------------------------------------------------------------------------- skopeo


def _skopeo(cenv: ClientEnv) -> list[str]:
    return ["skopeo", "--policy", str(cenv.policy), "--tmpdir", str(cenv.tmp)]


def skopeo_copy(
    cenv: ClientEnv,
    src: str,
    dest: str,
    *,
    all_images: bool = False,
    preserve_digests: bool = True,
) -> None:
    """``skopeo copy SRC DEST`` (transport-qualified refs, e.g. ``oci:DIR:TAG``, ``docker://``)."""
    args = [*_skopeo(cenv), "copy", "--quiet"]
    if src.startswith("docker://"):
        args.append("--src-tls-verify=false")
    if dest.startswith("docker://"):
        args.append("--dest-tls-verify=false")
    if all_images:
        args.append("--all")
    if preserve_digests:
        args.append("--preserve-digests")
    run([*args, src, dest], env=cenv.env())


def skopeo_inspect_raw(cenv: ClientEnv, ref: str, *, arch: str | None = None) -> bytes:
    """``skopeo inspect --raw``: the manifest (or index) bytes as the registry serves them."""
    override = ["--override-arch", arch] if arch else []
    out = run([*_skopeo(cenv), *override, "inspect", "--raw", "--tls-verify=false", ref],
              env=cenv.env())
    return out.encode()


def skopeo_inspect(cenv: ClientEnv, ref: str, *, arch: str | None = None) -> dict[str, Any]:
    """``skopeo inspect``: the summary (Digest, Layers, Architecture, ...) as a dict."""
    override = ["--override-arch", arch] if arch else []
    out = run([*_skopeo(cenv), *override, "inspect", "--tls-verify=false", ref], env=cenv.env())
    doc: dict[str, Any] = json.loads(out)
    return doc


def skopeo_delete(cenv: ClientEnv, ref: str) -> None:
    run([*_skopeo(cenv), "delete", "--tls-verify=false", ref], env=cenv.env())


# --------------------------------------------------------------------------- podman


@dataclass(frozen=True)
class Podman:
    """podman with private vfs storage, no systemd/journald, plain-HTTP registries."""

    cenv: ClientEnv

    def base_args(self) -> list[str]:
        base = self.cenv.base / "podman"
        return [
            "podman",
            "--root", str(self.cenv.storage_root),
            "--runroot", str(self.cenv.run_root),
            "--tmpdir", str(base / "libpod-tmp"),
            "--network-config-dir", str(self.cenv.network_config_dir),
            "--volumepath", str(base / "volumes"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]

    def __call__(self, *args: str) -> str:
        return run([*self.base_args(), *args], env=self.cenv.env())

    def pull(self, ref: str) -> str:
        """Pull ``ref`` (no transport prefix); return the image ID."""
        out = self("pull", "--quiet", "--tls-verify=false",
                   "--signature-policy", str(self.cenv.policy), ref)
        return out.strip().splitlines()[-1]

    def tag(self, source: str, target: str) -> None:
        self("tag", source, target)

    def push(self, ref: str) -> str:
        """Push ``ref``; return the manifest digest podman reports."""
        digest_file = self.cenv.tmp / "podman-push.digest"
        self("push", "--quiet", "--tls-verify=false",
             "--signature-policy", str(self.cenv.policy),
             "--digestfile", str(digest_file), ref)
        return digest_file.read_text().strip()

    def rmi(self, *refs: str) -> None:
        self("rmi", *refs)

    def image_exists(self, ref: str) -> bool:
        try:
            self("image", "exists", ref)
        except CommandError as exc:
            if exc.returncode == 1:
                return False
            raise
        return True

    def inspect(self, ref: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self("image", "inspect", ref))[0]
        return doc


# --------------------------------------------------------------------------- buildah


@dataclass(frozen=True)
class Buildah:
    """buildah with private vfs storage, plain-HTTP registries."""

    cenv: ClientEnv

    def base_args(self) -> list[str]:
        return [
            "buildah",
            "--root", str(self.cenv.storage_root),
            "--runroot", str(self.cenv.run_root),
            "--storage-driver", "vfs",
        ]

    def __call__(self, *args: str) -> str:
        return run([*self.base_args(), *args], env=self.cenv.env())

    def from_scratch(self, name: str) -> str:
        """``buildah from scratch``; return the working container's name."""
        return self("from", "--name", name, "--signature-policy", str(self.cenv.policy),
                    "scratch").strip()

    def copy(self, container: str, source: Path, dest: str) -> None:
        self("copy", container, str(source), dest)

    def config(self, container: str, *flags: str) -> None:
        self("config", *flags, container)

    def commit(self, container: str, image: str) -> str:
        """Commit an OCI image; return its image ID."""
        out = self("commit", "--quiet", "--format", "oci",
                   "--signature-policy", str(self.cenv.policy), container, image)
        return out.strip().splitlines()[-1]

    def push(self, image: str, dest: str) -> str:
        """Push to ``dest`` (e.g. ``docker://HOST/REPO:TAG``); return the manifest digest."""
        digest_file = self.cenv.tmp / "buildah-push.digest"
        self("push", "--quiet", "--tls-verify=false",
             "--signature-policy", str(self.cenv.policy),
             "--digestfile", str(digest_file), image, dest)
        return digest_file.read_text().strip()

    def rm(self, container: str) -> None:
        self("rm", container)


# --------------------------------------------------------------------------- registry HTTP


def get_manifest(base_url: str, repo: str, reference: str,
                 accept: str = MANIFEST_ACCEPT, auth: tuple[str, str] | None = ADMIN) -> httpx.Response:
    return httpx.get(f"{base_url}/v2/{repo}/manifests/{reference}",
                     headers={"Accept": accept}, timeout=30, auth=auth)


def get_blob(base_url: str, repo: str, digest: str, auth: tuple[str, str] | None = ADMIN) -> bytes:
    r = httpx.get(f"{base_url}/v2/{repo}/blobs/{digest}", follow_redirects=True, timeout=30, auth=auth)
    r.raise_for_status()
    return r.content


def get_referrers(base_url: str, repo: str, digest: str,
                  artifact_type: str | None = None) -> httpx.Response:
    params = {"artifactType": artifact_type} if artifact_type else None
    return httpx.get(f"{base_url}/v2/{repo}/referrers/{digest}", params=params, timeout=30, auth=ADMIN)


def error_codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    return [str(e.get("code")) for e in body.get("errors", [])] if isinstance(body, dict) else []


# --------------------------------------------------------------------------- oras


@dataclass(frozen=True)
class PushedManifest:
    digest: str
    size: int
    media_type: str
    headers: dict[str, str]


def _oras_registry(host: str, artifact_type: str | None, credentials: tuple[str, str] | None = ADMIN) -> Any:
    """An oras-py Registry (plain HTTP) that also sets the OCI 1.1 ``artifactType`` field.

    oras-py's ``push`` has no artifactType argument; it builds the manifest and hands it to
    ``upload_manifest``, so a subclass adds the field there. Everything else (blob uploads,
    subject, manifest PUT, pulls) is oras-py's own code.
    """
    import oras.provider

    class ArtifactTypeRegistry(oras.provider.Registry):  # type: ignore[misc]
        def upload_manifest(self, manifest: dict[str, Any], container: Any) -> Any:
            if artifact_type:
                manifest["artifactType"] = artifact_type
            return super().upload_manifest(manifest, container)

    reg = ArtifactTypeRegistry(hostname=host, insecure=True)
    if credentials is not None:
        reg.auth.set_basic_auth(*credentials)
    return reg


def oras_push(
    host: str,
    repo: str,
    tag: str,
    files: Sequence[tuple[Path, str]],
    *,
    workdir: Path,
    artifact_type: str | None = None,
    subject: PushedManifest | None = None,
    annotations: Mapping[str, str] | None = None,
    credentials: tuple[str, str] | None = ADMIN,
) -> PushedManifest:
    """Push ``files`` (path, layer media type) as an artifact to ``HOST/REPO:TAG`` with oras-py.

    The config is the OCI empty descriptor (``{}``, ``application/vnd.oci.empty.v1+json``),
    as OCI 1.1 recommends for artifacts that carry ``artifactType``.
    """
    import oras.oci

    reg = _oras_registry(host, artifact_type, credentials)
    empty = workdir / "oras-empty-config.json"
    empty.write_bytes(b"{}")
    oras_subject = None
    if subject is not None:
        oras_subject = oras.oci.Subject(mediaType=subject.media_type, digest=subject.digest,
                                        size=subject.size)
    target = f"{host}/{repo}:{tag}"
    response = reg.push(
        target=target,
        files=[f"{path}:{media_type}" for path, media_type in files],
        manifest_config=f"{empty}:{OCI_EMPTY}",
        manifest_annotations=dict(annotations) if annotations else None,
        subject=oras_subject,
        disable_path_validation=True,
        quiet=True,
    )
    if response.status_code != 201:
        raise RuntimeError(f"oras push {target}: {response.status_code} {response.text}")
    digest = response.headers["Docker-Content-Digest"]
    body = get_manifest(f"http://{host}", repo, digest, accept=OCI_MANIFEST, auth=credentials)
    body.raise_for_status()
    if sha256_digest(body.content) != digest:
        raise RuntimeError(f"registry served bytes for {digest} that hash differently")
    return PushedManifest(digest, len(body.content), OCI_MANIFEST, dict(response.headers))


def oras_pull(host: str, repo: str, reference: str, outdir: Path,
              credentials: tuple[str, str] | None = ADMIN) -> list[Path]:
    """Pull an artifact's file layers into ``outdir`` with oras-py; return the written paths.

    ``reference`` is a tag or a digest.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    reg = _oras_registry(host, None, credentials)
    sep = "@" if ":" in reference else ":"
    target = f"{host}/{repo}{sep}{reference}"
    return [Path(p) for p in reg.pull(target=target, outdir=str(outdir))]
