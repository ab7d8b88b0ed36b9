"""All models, imported here so Base.metadata knows every table (Alembic, tests)."""

from moorage.metadata.models.artifact import Artifact, ArtifactReference, Tag
from moorage.metadata.models.blob import Blob, ProjectBlob, RepositoryBlob, Upload
from moorage.metadata.models.identity import LoginFailure, ProjectMember, Robot, User, WebSession
from moorage.metadata.models.jobs import Event, Execution, Schedule, Task, TaskLog
from moorage.metadata.models.project import Project, ProjectMetadata, Repository
from moorage.metadata.models.system import AuditLog, ConfigItem, SigningKey

# Feature models (each module defines its own tables; imported for Base.metadata).
from moorage.metadata.models import label, policy, quota, replication, webhook  # noqa: E402,F401  isort: skip

__all__ = [
    "Artifact", "ArtifactReference", "AuditLog", "Blob", "ConfigItem", "Event", "Execution", "Schedule", "Task",
    "TaskLog", "LoginFailure", "Project", "ProjectBlob",
    "ProjectMember", "ProjectMetadata", "Repository", "RepositoryBlob", "Robot", "SigningKey", "Tag", "Upload",
    "User", "WebSession",
]
