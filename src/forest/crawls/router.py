"""Crawl job routes, plus the seed-compatible `/start-crawl` and `/crawl-status` aliases."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from forest.crawls import lifecycle, service
from forest.crawls.models import CrawlJob
from forest.crawls.schemas import (
    CrawlCreate,
    CrawlJobRead,
    CrawlListQuery,
    JobEventRead,
    TaskAccepted,
    TaskStatus,
    progress_of,
)
from forest.dependencies import API_PREFIX, CurrentUser, Db, DbSession, Limits, ListParams, SettingsDep, Signer
from forest.errors import NotFound
from forest.events import Publisher
from forest.pagination import Page, page_response
from forest.routing import LeanRoute

router = APIRouter(prefix=API_PREFIX, tags=["crawls"], route_class=LeanRoute)
aliases = APIRouter(tags=["crawls (seed-compatible)"])

IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
JobId = Annotated[uuid.UUID, Path(description="The job's id.")]


def _dispatcher(request: Request) -> lifecycle.JobQueue:
    dispatcher: lifecycle.JobQueue = request.app.state.dispatcher
    return dispatcher


def _publisher(request: Request) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


def _accepted(response: Response, job: CrawlJob) -> CrawlJobRead:
    response.headers["Location"] = f"{API_PREFIX}/crawls/{job.id}"
    return CrawlJobRead.of(job)


@router.post("/crawls", status_code=202, response_model=CrawlJobRead,
             responses={400: {"description": "url_not_allowed"}, 409: {"description": "conflict"},
                        422: {"description": "validation_error or idempotency_key_reused"},
                        503: {"description": "the job queue is unreachable; nothing was created"}})
async def create_crawl(
    job_in: CrawlCreate, user: CurrentUser, session: DbSession, settings: SettingsDep, limits: Limits,
    request: Request, response: Response, idempotency_key: IdempotencyKeyHeader = None,
) -> CrawlJobRead:
    """Accept a crawl of a source (`source_id`) or of a board URL (`url`); workers run it.

    If the source already has a queued or running job, that job is returned instead of crawling the
    board twice. With an `Idempotency-Key`, repeating the same request returns the same job for 24 h.
    Submissions (with `/retry` and `/start-crawl`) are rate-limited per user: 429 `rate_limited`."""
    await limits.check_crawl_submission(user.id)
    job = await lifecycle.submit(session=session, settings=settings, user=user, job_in=job_in,
                                 idempotency_key=idempotency_key, queue=_dispatcher(request),
                                 announcer=_publisher(request))
    return _accepted(response, job)


@router.get("/crawls", response_model=Page[CrawlJobRead])
async def list_crawls(user: CurrentUser, query: Annotated[CrawlListQuery, Query()], db: Db, signer: Signer,
                      settings: SettingsDep, request: Request) -> Response:
    """Your crawl jobs (all jobs for admins), newest first."""
    result = await service.list_jobs(db=db, user=user, query=query, signer=signer,
                                     count_timeout_ms=settings.count_timeout_ms)
    return page_response(result, request, CrawlJobRead)


@router.get("/crawls/{job_id}", response_model=CrawlJobRead)
async def get_crawl(job_id: JobId, user: CurrentUser, session: DbSession) -> CrawlJobRead:
    """One crawl job."""
    return CrawlJobRead.of(await service.get_visible(session=session, user=user, job_id=job_id))


@router.post("/crawls/{job_id}/cancel", status_code=202, response_model=CrawlJobRead)
async def cancel_crawl(job_id: JobId, user: CurrentUser, session: DbSession, request: Request) -> CrawlJobRead:
    """Stop a job: a queued job is cancelled at once, a running one before its next page."""
    job = await lifecycle.cancel(session=session, user=user, job_id=job_id, queue=_dispatcher(request),
                                 announcer=_publisher(request))
    return CrawlJobRead.of(job)


@router.post("/crawls/{job_id}/retry", status_code=202, response_model=CrawlJobRead)
async def retry_crawl(job_id: JobId, user: CurrentUser, session: DbSession, settings: SettingsDep,
                      limits: Limits, request: Request, response: Response) -> CrawlJobRead:
    """Start a new job doing what a finished job did; the new job's `retry_of` names the old one."""
    await limits.check_crawl_submission(user.id)
    job = await lifecycle.retry(session=session, settings=settings, user=user, job_id=job_id,
                                queue=_dispatcher(request), announcer=_publisher(request))
    return _accepted(response, job)


@router.get("/crawls/{job_id}/events", response_model=Page[JobEventRead])
async def crawl_events(
    job_id: JobId, user: CurrentUser, db: Db, params: ListParams, signer: Signer, request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only events with a greater id.")] = 0,
) -> Response:
    """The job's events, oldest first; poll with `after=<last id seen>`."""
    result = await service.list_events(db=db, user=user, job_id=job_id, after=after, params=params, signer=signer)
    return page_response(result, request, JobEventRead)


_CELERY_STATES = {"queued": "PENDING", "succeeded": "SUCCESS", "failed": "FAILURE", "cancelled": "REVOKED"}


@aliases.post("/start-crawl", status_code=202, response_model=TaskAccepted)
async def start_crawl(
    url: Annotated[str, Query(min_length=8, max_length=2048)], user: CurrentUser, session: DbSession,
    settings: SettingsDep, limits: Limits, request: Request, response: Response,
) -> TaskAccepted:
    """Seed-compatible: start a crawl of a URL; the task id is the job id."""
    await limits.check_crawl_submission(user.id)
    job = await lifecycle.submit(session=session, settings=settings, user=user, job_in=CrawlCreate(url=url),
                                 idempotency_key=None, queue=_dispatcher(request), announcer=_publisher(request))
    response.headers["Location"] = f"{API_PREFIX}/crawls/{job.id}"
    return TaskAccepted(task_id=str(job.id))


@aliases.get("/crawl-status/{task_id}", response_model=TaskStatus)
async def crawl_status(task_id: str, user: CurrentUser, session: DbSession) -> TaskStatus:
    """Seed-compatible: a job's state with Celery's state names."""
    try:
        job_id = uuid.UUID(task_id)
    except ValueError as exc:
        raise NotFound("No such task.") from exc
    job = await service.get_visible(session=session, user=user, job_id=job_id)
    if job.state == "running":
        state = "PROGRESS" if job.pages_done else "STARTED"
    else:
        state = _CELERY_STATES[job.state]
    details = {"status": job.state, "progress": progress_of(job), "error": job.error}
    return TaskStatus(task_id=task_id, state=state, details=details)

