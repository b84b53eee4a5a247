"""REST API of the labeling capability under ``/api/v1``.

Every route is behind :func:`~stackml.server.auth.authenticated`; with auth on, each also
checks the caller's role in the label project (annotator < reviewer < manager; server
administrators may do everything) and acts as the token's user, whatever user a body names.
With auth off (a loopback server for one person) bodies name the user and roles are not
enforced.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stackml.errors import Forbidden, NotFound, PayloadTooLarge
from stackml.server.auth import authenticated, current_user
from stackml.server.deps import get_metadata, get_store
from stackml.server.routers._common import API_PREFIX, BINARY_CONTENT, ERROR_RESPONSES
from stackml.server.schemas_labeling import (
    AnnotationIn,
    AnnotationOut,
    AssignIn,
    Count,
    GroupIn,
    LabelProjectIn,
    LabelProjectOut,
    LabelProjectPatch,
    MemberOut,
    NextIn,
    PrioritiesIn,
    ProgressOut,
    ReviewIn,
    RoleIn,
    SkipIn,
    TaskIds,
    TaskOut,
    TasksIn,
    UploadOut,
)
from stackml.store import Store
from stackml.store.base import MetadataStore
from stackml.store.labeling_entities import LabelConfig, TaskDraft, role_at_least

router = APIRouter(
    prefix=API_PREFIX,
    tags=["labeling"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)

#: Largest image accepted by the upload route.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def role_of(store: MetadataStore, project: str, request: Request) -> str | None:
    """The caller's role in ``project``: ``manager`` with auth off or for administrators."""
    user = current_user(request)
    if not request.app.state.auth or user is None or user.is_admin:
        return "manager"
    for member in store.list_label_members(project):
        if member.user == user.name:
            return member.role
    return None


def require(store: MetadataStore, project: str, request: Request, role: str) -> str | None:
    """Raise ``Forbidden`` unless the caller holds ``role`` (or a stronger one) in ``project``;
    answer the caller's role."""
    held = role_of(store, project, request)
    if not role_at_least(held, role):
        user = current_user(request)
        name = user.name if user else "anonymous"
        raise Forbidden(f"user {name!r} needs the {role} role in label project {project!r}")
    return held


def acting(request: Request, named: str | None) -> str:
    """The user a request acts as: the token's user with auth on, else the one it names."""
    user = current_user(request)
    if request.app.state.auth and user is not None:
        return user.name
    return named or "anonymous"


# -- projects, members, groups ---------------------------------------------------------
@router.get("/label-projects", response_model=list[LabelProjectOut])
def list_projects(store: MetadataStore = Depends(get_metadata)) -> list[LabelProjectOut]:
    """Every label project, by name."""
    return [LabelProjectOut.of(p) for p in store.list_label_projects()]


@router.post("/label-projects", response_model=LabelProjectOut, status_code=201)
def create_project(
    body: LabelProjectIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> LabelProjectOut:
    """Create a label project; its creator becomes its manager."""
    project = store.create_label_project(
        body.name,
        LabelConfig.from_dict(body.config),
        description=body.description,
        source=body.source,
        created_by=acting(request, body.created_by or None),
    )
    return LabelProjectOut.of(project)


@router.get("/label-projects/{name}", response_model=LabelProjectOut)
def get_project(name: str, store: MetadataStore = Depends(get_metadata)) -> LabelProjectOut:
    """One label project."""
    return LabelProjectOut.of(store.get_label_project(name))


@router.patch("/label-projects/{name}", response_model=LabelProjectOut)
def update_project(
    name: str,
    body: LabelProjectPatch,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> LabelProjectOut:
    """Change the config or description (managers)."""
    require(store, name, request, "manager")
    config = None if body.config is None else LabelConfig.from_dict(body.config)
    project = store.update_label_project(name, config=config, description=body.description)
    return LabelProjectOut.of(project)


@router.get("/label-projects/{name}/members", response_model=list[MemberOut])
def list_members(name: str, store: MetadataStore = Depends(get_metadata)) -> list[MemberOut]:
    """Members and their roles."""
    return [MemberOut.of(m) for m in store.list_label_members(name)]


@router.put("/label-projects/{name}/members/{user}", response_model=list[MemberOut])
def set_member(
    name: str,
    user: str,
    body: RoleIn,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> list[MemberOut]:
    """Give a user a role, or remove them with ``null`` (managers)."""
    require(store, name, request, "manager")
    return [MemberOut.of(m) for m in store.set_label_member(name, user, body.role)]


@router.get("/label-projects/{name}/groups", response_model=dict[str, list[str]])
def list_groups(name: str, store: MetadataStore = Depends(get_metadata)) -> dict[str, list[str]]:
    """Groups and their members."""
    return store.list_label_groups(name)


@router.put("/label-projects/{name}/groups/{group}", response_model=dict[str, list[str]])
def set_group(
    name: str,
    group: str,
    body: GroupIn,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> dict[str, list[str]]:
    """Set a group's members; an empty list removes it (managers)."""
    require(store, name, request, "manager")
    return store.set_label_group(name, group, body.users)


# -- tasks -----------------------------------------------------------------------------
@router.post("/label-projects/{name}/tasks", response_model=TaskIds, status_code=201)
def add_tasks(
    name: str, body: TasksIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> TaskIds:
    """Push items into the queue (managers)."""
    require(store, name, request, "manager")
    return TaskIds(ids=store.add_label_tasks(name, [t.draft() for t in body.tasks]))


@router.get("/label-projects/{name}/tasks", response_model=list[TaskOut])
def list_tasks(
    name: str,
    request: Request,
    state: str | None = None,
    after_id: int = Query(default=0, ge=0),
    limit: int = Query(default=1000, ge=1, le=100_000),
    store: MetadataStore = Depends(get_metadata),
) -> list[TaskOut]:
    """Tasks by id (reviewers see gold answers, annotators do not)."""
    require(store, name, request, "annotator")
    hide = not role_at_least(role_of(store, name, request), "reviewer")
    tasks = store.list_label_tasks(name, state=state, after_id=after_id, limit=limit)
    return [TaskOut.of(t, hide_gold=hide) for t in tasks]


def _task_for(store: MetadataStore, task_id: int, request: Request, role: str) -> TaskOut:
    task = store.get_label_task(task_id)
    hide = not role_at_least(require(store, task.project, request, role), "reviewer")
    return TaskOut.of(task, hide_gold=hide)


def _require_for_task(store: MetadataStore, task_id: int, request: Request, role: str) -> None:
    """The role check of a route acting on a task; with auth off there is none to make, so
    the hot routes (submit, skip) spare a read of the task (the store still checks it)."""
    if request.app.state.auth:
        require(store, store.get_label_task(task_id).project, request, role)


@router.get("/label-tasks/{task_id}", response_model=TaskOut)
def get_task(
    task_id: int, request: Request, store: MetadataStore = Depends(get_metadata)
) -> TaskOut:
    """One task."""
    return _task_for(store, task_id, request, "annotator")


@router.post("/label-projects/{name}/next", response_model=list[TaskOut])
def next_tasks(
    name: str, body: NextIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> list[TaskOut]:
    """Lease the next tasks to the caller (annotators)."""
    require(store, name, request, "annotator")
    tasks = store.next_label_tasks(
        name, acting(request, body.user), limit=body.limit, lease_s=body.lease_s
    )
    return [TaskOut.of(t, hide_gold=True) for t in tasks]


@router.post("/label-tasks/{task_id}/skip", response_model=TaskOut)
def skip_task(
    task_id: int, body: SkipIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> TaskOut:
    """Give a leased task back with a reason."""
    _require_for_task(store, task_id, request, "annotator")
    task = store.skip_label_task(task_id, acting(request, body.user), body.reason)
    return TaskOut.of(task, hide_gold=True)


@router.put("/label-projects/{name}/priorities", response_model=Count)
def set_priorities(
    name: str, body: PrioritiesIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> Count:
    """Reorder the queue (managers)."""
    require(store, name, request, "manager")
    return Count(count=store.set_label_priorities(name, body.priorities))


@router.post("/label-projects/{name}/assign", response_model=Count)
def assign(
    name: str, body: AssignIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> Count:
    """Reserve tasks for a user or ``@group`` (managers)."""
    require(store, name, request, "manager")
    return Count(count=store.assign_label_tasks(name, body.task_ids, body.assignee))


# -- annotations -----------------------------------------------------------------------
@router.post("/label-tasks/{task_id}/annotations", response_model=AnnotationOut, status_code=201)
def submit(
    task_id: int,
    body: AnnotationIn,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> AnnotationOut:
    """Submit a label for a task (machine labels: managers)."""
    role = "manager" if body.origin != "human" else "annotator"
    _require_for_task(store, task_id, request, role)
    annotation = store.submit_annotation(
        task_id,
        acting(request, body.user),
        body.value,
        duration_ms=body.duration_ms,
        origin=body.origin,
        model=body.model,
        confidence=body.confidence,
        audit=body.audit,
    )
    return AnnotationOut.of(annotation)


@router.get("/label-projects/{name}/annotations", response_model=list[AnnotationOut])
def list_annotations(
    name: str,
    request: Request,
    task_id: int | None = Query(default=None, ge=1),
    user: str | None = None,
    after_id: int = Query(default=0, ge=0),
    limit: int = Query(default=10_000, ge=1, le=100_000),
    store: MetadataStore = Depends(get_metadata),
) -> list[AnnotationOut]:
    """Annotations by id; annotators see only their own."""
    require(store, name, request, "annotator")
    if not role_at_least(role_of(store, name, request), "reviewer"):
        user = acting(request, user)
    found = store.list_annotations(name, task_id=task_id, user=user, after_id=after_id, limit=limit)
    return [AnnotationOut.of(a) for a in found]


@router.get("/label-annotations/{annotation_id}", response_model=AnnotationOut)
def get_annotation(
    annotation_id: int, request: Request, store: MetadataStore = Depends(get_metadata)
) -> AnnotationOut:
    """One annotation (reviewers, or its author)."""
    found = store.get_annotation(annotation_id)
    if acting(request, found.user) != found.user:
        require(store, found.project, request, "reviewer")
    return AnnotationOut.of(found)


@router.post("/label-annotations/{annotation_id}/review", response_model=AnnotationOut)
def review(
    annotation_id: int,
    body: ReviewIn,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> AnnotationOut:
    """Accept, reject with a comment, or fix an annotation (reviewers)."""
    target = store.get_annotation(annotation_id)
    require(store, target.project, request, "reviewer")
    reviewed = store.review_annotation(
        annotation_id,
        acting(request, body.reviewer),
        body.decision,
        comment=body.comment,
        value=body.value,
    )
    return AnnotationOut.of(reviewed)


@router.get("/label-projects/{name}/progress", response_model=ProgressOut)
def progress(
    name: str, request: Request, store: MetadataStore = Depends(get_metadata)
) -> ProgressOut:
    """Counts of tasks and annotations."""
    require(store, name, request, "annotator")
    return ProgressOut.of(store.label_progress(name))


# -- images ----------------------------------------------------------------------------
@router.post(
    "/label-projects/{name}/images",
    response_model=UploadOut,
    status_code=201,
    openapi_extra={"requestBody": {"required": True, "content": BINARY_CONTENT}},
)
async def upload_image(
    name: str,
    request: Request,
    priority: float = 0.0,
    key: str | None = None,
    store: Store = Depends(get_store),
) -> UploadOut:
    """Upload one image as a new task (managers). The image is decoded to validate it;
    bodies over 20 MiB answer 413."""
    from stackml.labeling.images import decode_image

    await run_in_threadpool(require, store.metadata, name, request, "manager")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"images are limited to {MAX_UPLOAD_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(f"images are limited to {MAX_UPLOAD_BYTES} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    info = decode_image(data)
    digest = await run_in_threadpool(store.blobs.put_bytes, data)
    draft = TaskDraft(
        {
            "image": digest,
            "width": info.width,
            "height": info.height,
            "media_type": info.media_type,
        },
        priority=priority,
        source="upload",
        key=key,
    )
    (task_id,) = await run_in_threadpool(store.metadata.add_label_tasks, name, [draft])
    return UploadOut(
        task_id=task_id,
        hash=digest,
        width=info.width,
        height=info.height,
        media_type=info.media_type,
    )


@router.get(
    "/label-tasks/{task_id}/image",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The task's image",
        }
    },
)
def task_image(task_id: int, request: Request, store: Store = Depends(get_store)) -> Response:
    """The image of an image task, served with safe headers (the type comes from decoding,
    never from the request; scripts are off even if a browser opens it directly)."""
    from stackml.labeling.images import safe_image_headers, sniff_image

    task = store.metadata.get_label_task(task_id)
    require(store.metadata, task.project, request, "annotator")
    digest = task.data.get("image")
    if not isinstance(digest, str):
        raise NotFound(f"task {task_id} has no image")
    data = store.blobs.get_bytes(digest)
    media = sniff_image(data)
    return Response(data, media_type=media, headers=safe_image_headers(task_id, media))
