"""The settings tree. Each setting is declared once with its type, default and description.

Precedence (highest first): explicit overrides (CLI flags), environment variables
``MOORAGE_<SECTION>__<KEY>``, the YAML config file, defaults.  Nothing here is read at
import time: ``load_settings`` is called by the CLI and the composition root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


def default_data_dir() -> Path:
    """``$MOORAGE_DATA_DIR``-less default: ``$XDG_DATA_HOME/moorage`` or ``~/.local/share/moorage``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "moorage"


class HTTPSettings(BaseModel):
    host: str = Field("0.0.0.0", description="Address to listen on")
    port: int = Field(5000, ge=1, le=65535, description="TCP port")
    server: Literal["granian", "uvicorn"] = Field("granian", description="ASGI server to run")


class TLSSettings(BaseModel):
    certificate: Path | None = Field(None, description="PEM certificate chain; enables HTTPS with private_key")
    private_key: Path | None = Field(None, description="PEM private key")


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite+aiosqlite:///<data_dir>/moorage.db. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    pool_size: int = Field(10, ge=1, description="Connections per process (PostgreSQL)")
    echo: bool = Field(False, description="Log every SQL statement")


class FilesystemStorageSettings(BaseModel):
    root: Path | None = Field(None, description="Blob root; default <data_dir>/storage")


class S3StorageSettings(BaseModel):
    bucket: str = Field("", description="Bucket name")
    region: str = Field("us-east-1", description="Region")
    endpoint_url: str | None = Field(None, description="Endpoint for S3-compatible stores (MinIO, Ceph RGW)")
    access_key: str | None = Field(None, description="Access key id (default: the AWS credential chain)")
    secret_key: str | None = Field(None, description="Secret access key")
    root_directory: str = Field("", description="Key prefix inside the bucket")
    chunk_size: int = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024, description="Multipart part size")
    redirect: bool = Field(False, description="Redirect blob GETs to presigned URLs")


class StorageSettings(BaseModel):
    driver: Literal["filesystem", "s3"] = Field("filesystem", description="Blob storage driver")
    filesystem: FilesystemStorageSettings = FilesystemStorageSettings()
    s3: S3StorageSettings = S3StorageSettings()


class RegistrySettings(BaseModel):
    max_manifest_bytes: int = Field(4 * 1024 * 1024, description="Largest manifest body accepted")
    upload_expiry_hours: float = Field(24.0, gt=0, description="Abandoned uploads are purged after this")
    upload_purge_interval_seconds: float = Field(600.0, gt=0, description="How often to purge expired uploads")
    pull_stats_flush_seconds: float = Field(10.0, gt=0, description="Pull time/count are batched this long")
    default_project: str = Field("library", description="Public project created on first start")


class AuthSettings(BaseModel):
    """Sign-in, tokens and robots. Keys Harbor lets admins edit (``PUT /configurations``) take
    their first value from here; later API changes are stored in the database."""

    self_registration: bool = Field(False, description="Let anyone create an account (Harbor: off by default)")
    project_creation_restriction: Literal["everyone", "adminonly"] = Field(
        "everyone", description="Who may create projects")
    token_expiration: int = Field(30, ge=1, description="Registry token lifetime in minutes")
    session_timeout: int = Field(60, ge=1, description="Browser session idle timeout in minutes")
    robot_name_prefix: str = Field("robot$", min_length=1, description="Prefix of robot account names")
    robot_token_duration: int = Field(30, ge=-1, description="Default robot lifetime in days (-1 never expires)")
    external_url: str | None = Field(
        None, description="Public base URL (https://registry.example.com); default: from each request's Host")
    token_service: str = Field("moorage-registry", description="The 'service' (JWT audience) of registry tokens")
    token_issuer: str = Field("moorage-token-issuer", description="The 'iss' of registry tokens")
    lockout_threshold: int = Field(5, ge=1, description="Failed sign-ins (per user or per address) before a lock")
    lockout_address_threshold: int = Field(
        30, ge=1, description="Failed sign-ins from one client address before that address is locked")
    lockout_window_seconds: int = Field(900, ge=1, description="Failures older than this are forgotten")
    lockout_seconds: int = Field(300, ge=1, description="How long a lock lasts")


class JobSettings(BaseModel):
    """The job service: where queued work runs and how schedules tick."""

    backend: Literal["local", "redis"] = Field(
        "local", description="local: in-process workers (embedded default); redis: `moorage worker` processes "
        "consume a SAQ queue in Redis, servers only enqueue")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the redis backend")
    queue_name: str = Field("moorage", description="Queue (and Redis key prefix) name; one per installation")
    workers: int = Field(4, ge=1, description="Tasks run at once per process (local) or per worker (redis)")
    run_in_server: bool = Field(
        True, description="With the local backend, servers run tasks themselves; ignored with redis")
    tick_seconds: float = Field(5.0, gt=0, description="How often schedules, the outbox and stuck tasks are checked")
    heartbeat_seconds: float = Field(15.0, gt=0, description="A running task proves it is alive this often")
    dead_after_seconds: float = Field(
        120.0, gt=0, description="A running task silent this long lost its worker: retried or failed")
    default_timeout_seconds: float = Field(24 * 3600.0, gt=0, description="Time limit of a task with none of its own")


class GcSettings(BaseModel):
    blob_time_window_hours: float = Field(
        2.0, ge=0, description="Blobs uploaded or mounted this recently are never collected (pushes in flight)")
    batch_size: int = Field(1000, ge=1, le=10000, description="Blobs marked and swept per batch (resumable unit)")
    delete_workers: int = Field(8, ge=1, le=64, description="Storage deletes in flight at once")


class QuotaSettings(BaseModel):
    storage_per_project: int = Field(
        -1, ge=-1, description="Default storage quota of a new project in bytes (-1: none)")
    warning_percent: int = Field(85, ge=1, le=100, description="QUOTA_WARNING when usage crosses this share")


class OutboundSettings(BaseModel):
    """Requests Moorage makes itself (webhooks, later replication): SSRF protection."""

    allowed_networks: list[str] = Field(
        default_factory=list, description="CIDRs allowed although loopback, link-local or private "
        "(e.g. [\"10.0.0.0/8\"]); everything public is allowed")
    timeout_seconds: float = Field(10.0, gt=0, description="Per-request timeout")


class WebhookSettings(BaseModel):
    max_retries: int = Field(3, ge=0, description="Delivery attempts after the first one fails")
    backoff_seconds: float = Field(10.0, ge=0, description="First retry delay; doubles per attempt")


class SecretSettings(BaseModel):
    """The key that encrypts credentials stored in the database (registry endpoints).  It is
    kept outside the database: every server and worker of one installation needs the same key."""

    key: str | None = Field(
        None, description="Base64 Fernet key (MOORAGE_SECRETS__KEY); wins over key_file")
    key_file: Path | None = Field(
        None, description="File holding the key; default <data_dir>/secret.key, created (mode 0600) when missing")


class ReplicationSettings(BaseModel):
    max_retries: int = Field(2, ge=0, description="Attempts after the first one fails, per artifact task (Harbor: 3 "
                             "attempts in all)")
    backoff_seconds: float = Field(5.0, ge=0, description="First retry delay; doubles per attempt")
    chunk_size: int = Field(10 * 1024 * 1024, ge=64 * 1024, description="Chunk size of copy_by_chunk uploads, and "
                            "how often a blob copy records how far it got (for resuming)")
    page_size: int = Field(1000, ge=1, le=10000, description="Page size when listing remote repositories and tags")
    parallel_blobs: int = Field(4, ge=1, le=32, description="Blobs of one artifact copied at once")
    execution_retention: int = Field(50, ge=1, description="Executions kept per policy")
    rate_limit_wait_seconds: float = Field(
        60.0, ge=0, description="How long one request to a remote registry may wait out 429 answers (honouring "
        "Retry-After) before the attempt fails and is retried with backoff")
    request_timeout_seconds: float = Field(60.0, gt=0, description="Timeout of one request to a remote registry "
                                           "(reading a blob chunk counts as one)")


class ProxySettings(BaseModel):
    """Pull-through proxy-cache projects."""

    manifest_check_seconds: float = Field(
        10.0, ge=0, description="A cached manifest is re-validated upstream (HEAD) at most this often per "
        "repository and reference; 0 checks on every pull (Harbor's behaviour)")
    mirror_project: str | None = Field(
        None, description="Transparent mirror mode: this proxy-cache project also answers pulls of names "
        "that match no local repository (registry-mirrors configuration can point at Moorage directly)")
    upstream_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one upstream request")


class LogSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level")
    format: Literal["console", "json"] = Field("console", description="console for people, json for collectors")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MOORAGE_", env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where SQLite and blobs live")
    http: HTTPSettings = HTTPSettings()
    tls: TLSSettings = TLSSettings()
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    registry: RegistrySettings = RegistrySettings()
    auth: AuthSettings = AuthSettings()
    admin_password: str | None = Field(
        None, description="Password of 'admin' on first start (MOORAGE_ADMIN_PASSWORD); "
        "when unset one is generated and written to <data_dir>/admin-password")
    log: LogSettings = LogSettings()
    jobs: JobSettings = JobSettings()
    gc: GcSettings = GcSettings()
    quota: QuotaSettings = QuotaSettings()
    outbound: OutboundSettings = OutboundSettings()
    webhook: WebhookSettings = WebhookSettings()
    secrets: SecretSettings = SecretSettings()
    replication: ReplicationSettings = ReplicationSettings()
    proxy: ProxySettings = ProxySettings()

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'moorage.db'}"

    @property
    def secret_key_file(self) -> Path:
        return self.secrets.key_file or (self.data_dir / "secret.key")

    @property
    def storage_root(self) -> Path:
        return self.storage.filesystem.root or (self.data_dir / "storage")


class ConfigError(Exception):
    """The configuration is invalid; the message says which setting and why."""


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the YAML file, the environment and ``overrides`` (nested dicts)."""
    path = Path(config_file) if config_file else None
    if path is None and os.environ.get("MOORAGE_CONFIG"):
        path = Path(os.environ["MOORAGE_CONFIG"])
    cls: type[Settings] = Settings
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        # A subclass per load carries the file name, so no module state is needed.
        cls = type("FileSettings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    try:
        settings = cls(**{k: v for k, v in overrides.items() if v is not None})
        if settings.tls.certificate and not settings.tls.private_key:
            raise ConfigError("tls.certificate needs tls.private_key")
        if settings.storage.driver == "s3" and not settings.storage.s3.bucket:
            raise ConfigError("storage.driver is s3 but storage.s3.bucket is empty")
        return settings
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
