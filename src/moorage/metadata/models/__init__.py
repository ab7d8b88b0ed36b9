"""All models, imported here so Base.metadata knows every table (Alembic, tests)."""

from moorage.metadata.models.artifact import Artifact, ArtifactReference, Tag
from moorage.metadata.models.blob import Blob, ProjectBlob, RepositoryBlob, Upload
from moorage.metadata.models.project import Project, Repository

__all__ = [
    "Artifact", "ArtifactReference", "Blob", "Project", "ProjectBlob", "Repository",
    "RepositoryBlob", "Tag", "Upload",
]
