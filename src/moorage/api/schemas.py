"""Harbor's /api/v2.0 JSON shapes, from harbor-v2.0-swagger.yaml.

One pydantic model per swagger definition, named as the swagger names it, with the
swagger's property names, types and optionality. No definition used here marks any
property required, so every field is optional and defaults to None: response handlers
fill what they have and choose ``model_dump(exclude_none=...)`` themselves.

Request bodies (``_Request``) validate strictly, as Harbor's Go decoder does: a string
where an integer is expected, or ``"true"`` where a boolean is, is rejected. Unknown keys
are ignored everywhere, since Harbor clients send extras. Models that also travel inside
request bodies (project metadata, CVE allowlists, robot permissions, labels...) are
request models. Date-time fields accept ISO-8601 strings even in strict models.

Definitions kept opaque rather than modelled: ``ExtraAttrs``, ``ScanOverview``,
``SBOMOverview`` and ``Registry`` are ``dict[str, Any]``; ``Annotations`` is
``dict[str, str]``, ``ResourceList`` ``dict[str, int]``, ``AdditionLinks``
``dict[str, AdditionLink]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

DateTime = Annotated[datetime, Strict(False)]
"""A swagger ``date-time``: ISO-8601 strings are accepted even inside strict request models."""


class _Response(BaseModel):
    """Base of the models Moorage sends: lax validation, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore")


class _Request(BaseModel):
    """Base of the models Moorage receives: wrong types rejected, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Error(_Response):
    """A model for all the error responses coming from Harbor."""

    code: str | None = None
    message: str | None = None


class Errors(_Response):
    """The error array that describes the errors got during the handling of a request."""

    errors: list[Error] | None = None


class OIDCUserInfo(_Response):
    """The OIDC info record of a user (its CLI secret and sub/issuer)."""

    id: int | None = None
    user_id: int | None = None
    subiss: str | None = None
    secret: str | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class UserResp(_Response):
    """A user, as returned by /users and /users/current."""

    email: str | None = None
    realname: str | None = None
    comment: str | None = None
    user_id: int | None = None
    username: str | None = None
    sysadmin_flag: bool | None = None
    admin_role_in_auth: bool | None = None
    oidc_user_meta: OIDCUserInfo | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class UserCreationReq(_Request):
    """The request body for creating a user."""

    email: str | None = Field(default=None, max_length=255)
    realname: str | None = None
    comment: str | None = None
    password: str | None = None
    username: str | None = Field(default=None, max_length=255)


class UserProfile(_Request):
    """The updatable profile of a user (email, realname, comment)."""

    email: str | None = None
    realname: str | None = None
    comment: str | None = None


class UserEntity(_Request):
    """A user referenced by ID and/or name, e.g. as a project member."""

    user_id: int | None = None
    username: str | None = None


class UserSearchRespItem(_Response):
    """One hit of /users/search."""

    user_id: int | None = None
    username: str | None = None


class PasswordReq(_Request):
    """The request body for changing a user's password."""

    old_password: str | None = None
    new_password: str | None = None


class UserSysAdminFlag(_Request):
    """The request body for toggling a user's system admin flag."""

    sysadmin_flag: bool | None = None


class CVEAllowlistItem(_Request):
    """The item in a CVE allowlist."""

    cve_id: str | None = None


class CVEAllowlist(_Request):
    """The CVE allowlist for the system or a project."""

    id: int | None = None
    project_id: int | None = None
    expires_at: int | None = None
    items: list[CVEAllowlistItem] | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class ProjectMetadata(_Request):
    """The metadata of a project; every value is a string ("true"/"false" for flags)."""

    public: str | None = None
    enable_content_trust: str | None = None
    enable_content_trust_cosign: str | None = None
    prevent_vul: str | None = None
    severity: str | None = None
    auto_scan: str | None = None
    auto_sbom_generation: str | None = None
    reuse_sys_cve_allowlist: str | None = None
    retention_id: str | None = None
    proxy_speed_kb: str | None = None
    max_upstream_conn: str | None = None
    proxy_cache_local_on_not_found: str | None = None
    proxy_referrer_api: str | None = None
    proxy_cache_filter_pattern: str | None = None
    proxy_cache_filter_kind: str | None = None


class Project(_Response):
    """A project, as returned by /projects."""

    project_id: int | None = None
    owner_id: int | None = None
    name: str | None = None
    registry_id: int | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None
    deleted: bool | None = None
    owner_name: str | None = None
    togglable: bool | None = None
    current_user_role_id: int | None = None
    current_user_role_ids: list[int] | None = None
    repo_count: int | None = None
    metadata: ProjectMetadata | None = None
    cve_allowlist: CVEAllowlist | None = None


class ProjectReq(_Request):
    """The request body for creating or updating a project."""

    project_name: str | None = Field(default=None, max_length=255)
    public: bool | None = None
    metadata: ProjectMetadata | None = None
    cve_allowlist: CVEAllowlist | None = None
    storage_limit: int | None = None
    registry_id: int | None = None


class ProjectSummaryQuota(_Response):
    """The hard limits and used status of a project's quota."""

    hard: dict[str, int] | None = None
    used: dict[str, int] | None = None


class ProjectSummary(_Response):
    """The summary of a project: repository, member and quota counts."""

    repo_count: int | None = None
    project_admin_count: int | None = None
    maintainer_count: int | None = None
    developer_count: int | None = None
    guest_count: int | None = None
    limited_guest_count: int | None = None
    quota: ProjectSummaryQuota | None = None
    registry: dict[str, Any] | None = None


class ProjectDeletable(_Response):
    """Whether a project can be deleted, and why not."""

    deletable: bool | None = None
    message: str | None = None


class UserGroup(_Request):
    """A user group (LDAP, HTTP or OIDC)."""

    id: int | None = None
    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


class ProjectMember(_Request):
    """The request body for adding a user or group as a project member."""

    role_id: int | None = None
    member_user: UserEntity | None = None
    member_group: UserGroup | None = None


class ProjectMemberEntity(_Response):
    """A project member, as returned by /projects/{project_name_or_id}/members."""

    id: int | None = None
    project_id: int | None = None
    entity_name: str | None = None
    role_name: str | None = None
    role_id: int | None = None
    entity_id: int | None = None
    entity_type: str | None = None


class RoleRequest(_Request):
    """The request body for changing a project member's role."""

    role_id: int | None = None


class Access(_Request):
    """One access (resource, action, effect) granted to a robot account."""

    resource: str | None = None
    action: str | None = None
    effect: str | None = None


class RobotPermission(_Request):
    """The accesses a robot account has in one namespace."""

    kind: str | None = None
    namespace: str | None = None
    access: list[Access] | None = None


class Robot(_Request):
    """A robot account."""

    id: int | None = None
    name: str | None = None
    description: str | None = None
    secret: str | None = None
    level: str | None = None
    duration: int | None = None
    editable: bool | None = None
    disable: bool | None = None
    expires_at: int | None = None
    permissions: list[RobotPermission] | None = None
    creator_type: str | None = None
    creator_ref: int | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class RobotCreate(_Request):
    """The request for robot account creation."""

    name: str | None = None
    description: str | None = None
    secret: str | None = None
    level: str | None = None
    disable: bool | None = None
    duration: int | None = None
    permissions: list[RobotPermission] | None = None


class RobotCreated(_Response):
    """The response for robot account creation."""

    id: int | None = None
    name: str | None = None
    secret: str | None = None
    creation_time: DateTime | None = None
    expires_at: int | None = None


class RobotSec(_Request):
    """The request/response for refreshing or updating a robot account secret."""

    secret: str | None = None


class Repository(_Response):
    """A repository inside a project."""

    id: int | None = None
    project_id: int | None = None
    name: str | None = None
    description: str | None = None
    artifact_count: int | None = None
    pull_count: int | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class Tag(_Response):
    """A tag attached to an artifact."""

    id: int | None = None
    repository_id: int | None = None
    artifact_id: int | None = None
    name: str | None = None
    push_time: DateTime | None = None
    pull_time: DateTime | None = None
    immutable: bool | None = None


class Label(_Request):
    """A label that can be attached to artifacts."""

    id: int | None = None
    name: str | None = None
    description: str | None = None
    color: str | None = None
    scope: str | None = None
    project_id: int | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class AdditionLink(_Response):
    """A link to an addition of an artifact (build history, values, readme, ...)."""

    href: str | None = None
    absolute: bool | None = None


class Platform(_Response):
    """The platform a referenced artifact applies to."""

    # Harbor's JSON keys really carry the single quotes: "'os.version'", "'os.features'".
    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)

    architecture: str | None = None
    os: str | None = None
    os_version: str | None = Field(default=None, alias="'os.version'")
    os_features: list[str] | None = Field(default=None, alias="'os.features'")
    variant: str | None = None


class Reference(_Response):
    """A reference from an index artifact to a child artifact."""

    parent_id: int | None = None
    child_id: int | None = None
    child_digest: str | None = None
    platform: Platform | None = None
    annotations: dict[str, str] | None = None
    urls: list[str] | None = None


class Accessory(_Response):
    """The accessory of an artifact (signature, SBOM, ...)."""

    id: int | None = None
    artifact_id: int | None = None
    subject_artifact_id: int | None = None
    subject_artifact_digest: str | None = None
    subject_artifact_repo: str | None = None
    size: int | None = None
    digest: str | None = None
    type: str | None = None
    icon: str | None = None
    creation_time: DateTime | None = None


class Artifact(_Response):
    """An artifact (image, chart, index, ...) inside a repository."""

    id: int | None = None
    type: str | None = None
    media_type: str | None = None
    manifest_media_type: str | None = None
    artifact_type: str | None = None
    project_id: int | None = None
    repository_id: int | None = None
    repository_name: str | None = None
    digest: str | None = None
    size: int | None = None
    icon: str | None = None
    push_time: DateTime | None = None
    pull_time: DateTime | None = None
    extra_attrs: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None
    references: list[Reference] | None = None
    tags: list[Tag] | None = None
    addition_links: dict[str, AdditionLink] | None = None
    labels: list[Label] | None = None
    scan_overview: dict[str, Any] | None = None
    sbom_overview: dict[str, Any] | None = None
    accessories: list[Accessory] | None = None
    inherited_accessories: list[Accessory] | None = None


class SearchRepository(_Response):
    """A repository hit of /search."""

    project_id: int | None = None
    project_name: str | None = None
    project_public: bool | None = None
    repository_name: str | None = None
    pull_count: int | None = None
    artifact_count: int | None = None


class Search(_Response):
    """The results of /search: matching projects and repositories."""

    project: list[Project] | None = None
    repository: list[SearchRepository] | None = None


class AuthproxySetting(_Response):
    """The auth proxy settings, shown when Harbor relies on an auth proxy."""

    endpoint: str | None = None
    tokenreivew_endpoint: str | None = None
    skip_search: bool | None = None
    verify_cert: bool | None = None
    server_certificate: str | None = None


class GeneralInfo(_Response):
    """The general information of the Harbor instance (/systeminfo)."""

    banner_message: str | None = None
    current_time: DateTime | None = None
    registry_url: str | None = None
    external_url: str | None = None
    auth_mode: str | None = None
    primary_auth_mode: bool | None = None
    project_creation_restriction: str | None = None
    self_registration: bool | None = None
    has_ca_root: bool | None = None
    harbor_version: str | None = None
    registry_storage_provider_name: str | None = None
    read_only: bool | None = None
    notification_enable: bool | None = None
    authproxy_settings: AuthproxySetting | None = None
    oidc_provider_name: str | None = None


class ComponentHealthStatus(_Response):
    """The health status of a component."""

    name: str | None = None
    status: str | None = None
    error: str | None = None


class OverallHealthStatus(_Response):
    """The system health status."""

    status: str | None = None
    components: list[ComponentHealthStatus] | None = None


class Statistic(_Response):
    """The project and repository counts, and the storage consumption (/statistics)."""

    private_project_count: int | None = None
    private_repo_count: int | None = None
    public_project_count: int | None = None
    public_repo_count: int | None = None
    total_project_count: int | None = None
    total_repo_count: int | None = None
    total_storage_consumption: int | None = None


class Configurations(_Request):
    """The request body for updating the system configurations."""

    auth_mode: str | None = None
    primary_auth_mode: bool | None = None
    ldap_base_dn: str | None = None
    ldap_filter: str | None = None
    ldap_group_base_dn: str | None = None
    ldap_group_admin_dn: str | None = None
    ldap_group_attribute_name: str | None = None
    ldap_group_search_filter: str | None = None
    ldap_group_search_scope: int | None = None
    ldap_group_attach_parallel: bool | None = None
    ldap_scope: int | None = None
    ldap_search_dn: str | None = None
    ldap_search_password: str | None = None
    ldap_timeout: int | None = None
    ldap_uid: str | None = None
    ldap_url: str | None = None
    ldap_verify_cert: bool | None = None
    ldap_group_membership_attribute: str | None = None
    project_creation_restriction: str | None = None
    read_only: bool | None = None
    self_registration: bool | None = None
    token_expiration: int | None = None
    uaa_client_id: str | None = None
    uaa_client_secret: str | None = None
    uaa_endpoint: str | None = None
    uaa_verify_cert: bool | None = None
    http_authproxy_endpoint: str | None = None
    http_authproxy_tokenreview_endpoint: str | None = None
    http_authproxy_admin_groups: str | None = None
    http_authproxy_admin_usernames: str | None = None
    http_authproxy_verify_cert: bool | None = None
    http_authproxy_skip_search: bool | None = None
    http_authproxy_server_certificate: str | None = None
    oidc_name: str | None = None
    oidc_endpoint: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_groups_claim: str | None = None
    oidc_admin_group: str | None = None
    oidc_group_filter: str | None = None
    oidc_scope: str | None = None
    oidc_user_claim: str | None = None
    oidc_verify_cert: bool | None = None
    oidc_auto_onboard: bool | None = None
    oidc_extra_redirect_parms: str | None = None
    oidc_logout: bool | None = None
    robot_token_duration: int | None = None
    robot_name_prefix: str | None = None
    notification_enable: bool | None = None
    quota_per_project_enable: bool | None = None
    storage_per_project: int | None = None
    audit_log_forward_endpoint: str | None = None
    skip_audit_log_database: bool | None = None
    session_timeout: int | None = None
    scanner_skip_update_pulltime: bool | None = None
    banner_message: str | None = None
    disabled_audit_log_event_types: str | None = None


class BoolConfigItem(_Response):
    """A boolean configuration value and whether it can be updated."""

    value: bool | None = None
    editable: bool | None = None


class StringConfigItem(_Response):
    """A string configuration value and whether it can be updated."""

    value: str | None = None
    editable: bool | None = None


class IntegerConfigItem(_Response):
    """An integer configuration value and whether it can be updated."""

    value: int | None = None
    editable: bool | None = None


class ConfigurationsResponseScanAllPolicyParameter(_Response):
    """The parameters of the scan-all policy, depending on its type."""

    daily_time: int | None = None


class ConfigurationsResponseScanAllPolicy(_Response):
    """The scan-all policy (ConfigurationsResponse.scan_all_policy)."""

    type: str | None = None
    parameter: ConfigurationsResponseScanAllPolicyParameter | None = None


class ConfigurationsResponse(_Response):
    """The system configurations; each key is a {value, editable} item."""

    auth_mode: StringConfigItem | None = None
    primary_auth_mode: BoolConfigItem | None = None
    ldap_base_dn: StringConfigItem | None = None
    ldap_filter: StringConfigItem | None = None
    ldap_group_base_dn: StringConfigItem | None = None
    ldap_group_admin_dn: StringConfigItem | None = None
    ldap_group_attribute_name: StringConfigItem | None = None
    ldap_group_search_filter: StringConfigItem | None = None
    ldap_group_search_scope: IntegerConfigItem | None = None
    ldap_group_attach_parallel: BoolConfigItem | None = None
    ldap_scope: IntegerConfigItem | None = None
    ldap_search_dn: StringConfigItem | None = None
    ldap_timeout: IntegerConfigItem | None = None
    ldap_uid: StringConfigItem | None = None
    ldap_url: StringConfigItem | None = None
    ldap_verify_cert: BoolConfigItem | None = None
    ldap_group_membership_attribute: StringConfigItem | None = None
    project_creation_restriction: StringConfigItem | None = None
    read_only: BoolConfigItem | None = None
    self_registration: BoolConfigItem | None = None
    token_expiration: IntegerConfigItem | None = None
    uaa_client_id: StringConfigItem | None = None
    uaa_client_secret: StringConfigItem | None = None
    uaa_endpoint: StringConfigItem | None = None
    uaa_verify_cert: BoolConfigItem | None = None
    http_authproxy_endpoint: StringConfigItem | None = None
    http_authproxy_tokenreview_endpoint: StringConfigItem | None = None
    http_authproxy_admin_groups: StringConfigItem | None = None
    http_authproxy_admin_usernames: StringConfigItem | None = None
    http_authproxy_verify_cert: BoolConfigItem | None = None
    http_authproxy_skip_search: BoolConfigItem | None = None
    http_authproxy_server_certificate: StringConfigItem | None = None
    oidc_name: StringConfigItem | None = None
    oidc_endpoint: StringConfigItem | None = None
    oidc_client_id: StringConfigItem | None = None
    oidc_groups_claim: StringConfigItem | None = None
    oidc_admin_group: StringConfigItem | None = None
    oidc_group_filter: StringConfigItem | None = None
    oidc_scope: StringConfigItem | None = None
    oidc_user_claim: StringConfigItem | None = None
    oidc_verify_cert: BoolConfigItem | None = None
    oidc_auto_onboard: BoolConfigItem | None = None
    oidc_extra_redirect_parms: StringConfigItem | None = None
    oidc_logout: BoolConfigItem | None = None
    robot_token_duration: IntegerConfigItem | None = None
    robot_name_prefix: StringConfigItem | None = None
    notification_enable: BoolConfigItem | None = None
    quota_per_project_enable: BoolConfigItem | None = None
    storage_per_project: IntegerConfigItem | None = None
    audit_log_forward_endpoint: StringConfigItem | None = None
    skip_audit_log_database: BoolConfigItem | None = None
    scanner_skip_update_pulltime: BoolConfigItem | None = None
    scan_all_policy: ConfigurationsResponseScanAllPolicy | None = None
    session_timeout: IntegerConfigItem | None = None
    banner_message: StringConfigItem | None = None
    disabled_audit_log_event_types: StringConfigItem | None = None


class AuditLog(_Response):
    """A legacy audit log entry (/audit-logs)."""

    id: int | None = None
    username: str | None = None
    resource: str | None = None
    resource_type: str | None = None
    operation: str | None = None
    op_time: DateTime | None = None


class AuditLogExt(_Response):
    """An audit log entry (/auditlog-exts)."""

    id: int | None = None
    username: str | None = None
    resource: str | None = None
    resource_type: str | None = None
    operation: str | None = None
    operation_description: str | None = None
    operation_result: bool | None = None
    op_time: DateTime | None = None


class AuditLogEventType(_Response):
    """An audit log event type, such as create_user."""

    event_type: str | None = None


class Permission(_Response):
    """A permission (resource, action) of the current user."""

    resource: str | None = None
    action: str | None = None


QuotaRefObject = dict[str, Any]
"""A quota's reference object (for a project: ``{id, name, owner_name}``), opaque in the swagger."""


class QuotaUpdateReq(_Request):
    """The new hard limits for a quota."""

    hard: dict[str, int] | None = None


class Quota(_Response):
    """The quota object: its reference, hard limits and usage."""

    id: int | None = None
    ref: QuotaRefObject | None = None
    hard: dict[str, int] | None = None
    used: dict[str, int] | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


# Webhooks ------------------------------------------------------------------------------------------

EventType = str
"""Swagger ``EventType``: a webhook event type name such as PUSH_ARTIFACT."""
NotifyType = str
"""Swagger ``NotifyType``: a webhook target type, http or slack."""
PayloadFormatType = str
"""Swagger ``PayloadFormatType``: a webhook payload format, Default or CloudEvents."""


class WebhookTargetObject(_Request):
    """A webhook policy target: where and how events are delivered."""

    type: str | None = None
    address: str | None = None
    auth_header: str | None = None
    skip_cert_verify: bool | None = None
    payload_format: PayloadFormatType | None = None


class WebhookPolicy(_Request):
    """A project webhook policy."""

    id: int | None = None
    name: str | None = None
    description: str | None = None
    project_id: int | None = None
    targets: list[WebhookTargetObject] | None = None
    event_types: list[str] | None = None
    creator: str | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None
    enabled: bool | None = None


class WebhookLastTrigger(_Response):
    """When a webhook policy was last triggered by an event type."""

    policy_name: str | None = None
    event_type: str | None = None
    enabled: bool | None = None
    creation_time: DateTime | None = None
    last_trigger_time: DateTime | None = None


class PayloadFormat(_Response):
    """The payload formats a webhook notify type supports."""

    notify_type: NotifyType | None = None
    formats: list[PayloadFormatType] | None = None


class SupportedWebhookEventTypes(_Response):
    """Supported webhook event types, notify types and payload formats."""

    event_type: list[EventType] | None = None
    notify_type: list[NotifyType] | None = None
    payload_formats: list[PayloadFormat] | None = None


class Metrics(_Response):
    """Task counts of an execution by status."""

    task_count: int | None = None
    success_task_count: int | None = None
    error_task_count: int | None = None
    pending_task_count: int | None = None
    running_task_count: int | None = None
    scheduled_task_count: int | None = None
    stopped_task_count: int | None = None


class Execution(_Response):
    """A run of a job-service vendor (a webhook delivery, a preheat...)."""

    id: int | None = None
    vendor_type: str | None = None
    vendor_id: int | None = None
    status: str | None = None
    status_message: str | None = None
    metrics: Metrics | None = None
    trigger: str | None = None
    extra_attrs: dict[str, Any] | None = None
    start_time: str | None = None
    end_time: str | None = None


class Task(_Response):
    """A task of an execution."""

    id: int | None = None
    execution_id: int | None = None
    status: str | None = None
    status_message: str | None = None
    run_count: int | None = None
    extra_attrs: dict[str, Any] | None = None
    creation_time: str | None = None
    update_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None


class ImmutableSelector(_Request):
    """A doublestar selector of an immutable tag rule."""

    kind: str | None = None
    decoration: str | None = None
    pattern: str | None = None
    extras: str | None = None


class ImmutableRule(_Request):
    """An immutable tag rule of a project."""

    id: int | None = None
    priority: int | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[ImmutableSelector] | None = None
    scope_selectors: dict[str, list[ImmutableSelector]] | None = None


class RetentionRuleParamMetadata(_Response):
    """A parameter of a retention rule template."""

    type: str | None = None
    unit: str | None = None
    required: bool | None = None


class RetentionRuleMetadata(_Response):
    """A retention rule template."""

    rule_template: str | None = None
    display_text: str | None = None
    action: str | None = None
    params: list[RetentionRuleParamMetadata] | None = None


class RetentionSelectorMetadata(_Response):
    """A selector kind retention rules support, with its decorations."""

    display_text: str | None = None
    kind: str | None = None
    decorations: list[str] | None = None


class RetentionMetadata(_Response):
    """The tag retention templates and selectors."""

    templates: list[RetentionRuleMetadata] | None = None
    scope_selectors: list[RetentionSelectorMetadata] | None = None
    tag_selectors: list[RetentionSelectorMetadata] | None = None


class RetentionSelector(_Request):
    """A doublestar selector of a retention rule."""

    kind: str | None = None
    decoration: str | None = None
    pattern: str | None = None
    extras: str | None = None


class RetentionRule(_Request):
    """A retention rule: what to retain among the selected artifacts."""

    id: int | None = None
    priority: int | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[RetentionSelector] | None = None
    scope_selectors: dict[str, list[RetentionSelector]] | None = None


class RetentionRuleTrigger(_Request):
    """When a retention policy runs (kind Schedule, settings.cron)."""

    kind: str | None = None
    settings: dict[str, Any] | None = None
    references: dict[str, Any] | None = None


class RetentionPolicyScope(_Request):
    """What a retention policy applies to (a project)."""

    level: str | None = None
    ref: int | None = None


class RetentionPolicy(_Request):
    """A project's tag retention policy."""

    id: int | None = None
    algorithm: str | None = None
    rules: list[RetentionRule] | None = None
    trigger: RetentionRuleTrigger | None = None
    scope: RetentionPolicyScope | None = None


class RetentionExecution(_Response):
    """A run of a retention policy."""

    id: int | None = None
    policy_id: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    status: str | None = None
    trigger: str | None = None
    dry_run: bool | None = None


class RetentionExecutionTask(_Response):
    """A retention run's task: one repository."""

    id: int | None = None
    execution_id: int | None = None
    repository: str | None = None
    job_id: str | None = None
    status: str | None = None
    status_code: int | None = None
    status_revision: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    total: int | None = None
    retained: int | None = None


# Registries ----------------------------------------------------------------------------------------


class RegistryCredential(_Request):
    """An endpoint's credential; responses show ``access_secret`` as ``*****``."""

    type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None


class Registry(_Request):
    """A registry endpoint (POST body and GET response)."""

    id: int | None = None
    url: str | None = None
    name: str | None = None
    credential: RegistryCredential | None = None
    type: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None
    description: str | None = None
    status: str | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None


class RegistryUpdate(_Request):
    """PUT /registries/{id}: the fields to change (an ``access_secret`` of ``*****`` keeps the secret)."""

    name: str | None = None
    description: str | None = None
    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None


class RegistryPing(_Request):
    """POST /registries/ping: a stored endpoint (``id``, fields override) or an unsaved one."""

    id: int | None = None
    type: str | None = None
    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None


class FilterStyle(_Response):
    """A replication filter an endpoint supports and how the UI offers it."""

    type: str | None = None
    style: str | None = None
    values: list[str] | None = None


class RegistryInfo(_Response):
    """What replication can do with an endpoint."""

    type: str | None = None
    description: str | None = None
    supported_resource_filters: list[FilterStyle] | None = None
    supported_triggers: list[str] | None = None
    supported_copy_by_chunk: bool | None = None


class RegistryEndpoint(_Response):
    """One fixed endpoint an adapter offers (key: label, value: URL)."""

    key: str | None = None
    value: str | None = None


class RegistryProviderEndpointPattern(_Response):
    """How an adapter's endpoint URL is entered (free-form, fixed, or one of a list)."""

    endpoint_type: str | None = None
    endpoints: list[RegistryEndpoint] | None = None


class RegistryProviderCredentialPattern(_Response):
    """How an adapter's access key and secret are entered."""

    access_key_type: str | None = None
    access_key_data: str | None = None
    access_secret_type: str | None = None
    access_secret_data: str | None = None


class RegistryProviderInfo(_Response):
    """How the UI asks for an adapter's endpoint and credentials."""

    endpoint_pattern: RegistryProviderEndpointPattern | None = None
    credential_pattern: RegistryProviderCredentialPattern | None = None


# Replication ---------------------------------------------------------------------------------------


class ReplicationTriggerSettings(_Response):
    """The cron of a scheduled trigger (six fields, seconds first)."""

    cron: str | None = None


class ReplicationTrigger(_Response):
    """When a policy runs: ``manual``, ``scheduled`` (cron) or ``event_based``."""

    type: str | None = None
    trigger_settings: ReplicationTriggerSettings | None = None


# A filter ``{type, value, decoration}``: its ``value`` is a pattern or a list of label names (the
# swagger gives it no type), so filters stay plain mappings; the domain validates them.
ReplicationFilter = dict[str, Any]


class ReplicationPolicy(_Response):
    """A replication policy (the request body is validated by the domain, field by field)."""

    id: int | None = None
    name: str | None = None
    description: str | None = None
    src_registry: dict[str, Any] | None = None
    dest_registry: dict[str, Any] | None = None
    dest_namespace: str | None = None
    dest_namespace_replace_count: int | None = None
    trigger: ReplicationTrigger | None = None
    filters: list[ReplicationFilter] | None = None
    replicate_deletion: bool | None = None
    deletion: bool | None = None
    override: bool | None = None
    enabled: bool | None = None
    creation_time: DateTime | None = None
    update_time: DateTime | None = None
    speed: int | None = None
    copy_by_chunk: bool | None = None
    single_active_replication: bool | None = None


class StartReplicationExecution(_Request):
    """Which policy to run now."""

    policy_id: int | None = None


class ReplicationExecution(_Response):
    """A run of a replication policy, with the counts of its tasks by status."""

    id: int | None = None
    policy_id: int | None = None
    status: str | None = None
    trigger: str | None = None
    start_time: DateTime | None = None
    end_time: DateTime | None = None
    status_text: str | None = None
    total: int | None = None
    failed: int | None = None
    succeed: int | None = None
    in_progress: int | None = None
    stopped: int | None = None


class ReplicationTask(_Response):
    """One artifact copied or deleted by a run."""

    id: int | None = None
    execution_id: int | None = None
    status: str | None = None
    job_id: str | None = None
    operation: str | None = None
    resource_type: str | None = None
    src_resource: str | None = None
    dst_resource: str | None = None
    start_time: DateTime | None = None
    end_time: DateTime | None = None
