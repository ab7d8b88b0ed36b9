"""The ``moorage`` command: serve the registry, manage projects and the database."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from moorage import __version__
from moorage.config.settings import ConfigError, Settings, load_settings

app = typer.Typer(help="Moorage: an enterprise container registry.", no_args_is_help=True, add_completion=False)
project_app = typer.Typer(help="Manage projects.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)
admin_app = typer.Typer(help="Administer local users.", no_args_is_help=True)
app.add_typer(project_app, name="project")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
console = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file", envvar="MOORAGE_CONFIG")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (SQLite, blobs)")]


def _settings(config: Path | None, data_dir: Path | None, **http: Any) -> Settings:
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    http = {k: v for k, v in http.items() if v is not None}
    if http:
        overrides["http"] = http
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def version() -> None:
    """Print the version."""
    print(f"moorage {__version__}")


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 0.0.0.0)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 5000)")] = None,
    server: Annotated[str | None, typer.Option(help="ASGI server: granian or uvicorn")] = None,
    tls_certificate: Annotated[Path | None, typer.Option(help="PEM certificate (enables HTTPS)")] = None,
    tls_private_key: Annotated[Path | None, typer.Option(help="PEM private key")] = None,
) -> None:
    """Run the registry server."""
    settings = _settings(config, data_dir, host=host, port=port, server=server)
    if tls_certificate or tls_private_key:
        settings.tls.certificate, settings.tls.private_key = tls_certificate, tls_private_key
        if not (tls_certificate and tls_private_key):
            console.print("[red]--tls-certificate and --tls-private-key go together[/red]")
            raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    scheme = "https" if settings.tls.certificate else "http"
    console.print(
        f"moorage {__version__} listening on {scheme}://{settings.http.host}:{settings.http.port} "
        f"(data: {settings.data_dir}, database: {settings.database_url.split('://')[0]}, "
        f"storage: {settings.storage.driver}, server: {settings.http.server})"
    )
    if settings.http.server == "uvicorn":
        _run_uvicorn(settings)
    else:
        _run_granian(settings)


def _run_granian(settings: Settings) -> None:
    """granian embedded in this process: one process in all (a separate supervisor process
    would add ~40 MiB of RSS for nothing while there is one worker)."""
    import signal

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    from moorage.app import create_app

    async def run() -> None:
        kwargs: dict[str, Any] = {}
        if settings.tls.certificate:
            kwargs.update(ssl_cert=settings.tls.certificate, ssl_key=settings.tls.private_key)
        server = Server(
            create_app(settings), address=settings.http.host, port=settings.http.port,
            interface=Interfaces.ASGI, log_level=LogLevels(settings.log.level), log_access=False, **kwargs,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    asyncio.run(run())


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    from moorage.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.http.host, port=settings.http.port,
        ssl_certfile=str(settings.tls.certificate) if settings.tls.certificate else None,
        ssl_keyfile=str(settings.tls.private_key) if settings.tls.private_key else None,
        log_level=settings.log.level, access_log=False, lifespan="on",
    )


@app.command()
def worker(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    concurrency: Annotated[int | None, typer.Option(help="Tasks run at once (default: jobs.workers)")] = None,
) -> None:
    """Run a job worker: GC, retention, webhook deliveries, audit purge... (scaled-out mode:
    jobs.backend=redis; with the local backend it runs Pending tasks from the database)."""
    import signal

    from moorage.app import build_components

    settings = _settings(config, data_dir)
    if concurrency is not None:
        settings.jobs.workers = concurrency
    console.print(f"moorage {__version__} worker (backend: {settings.jobs.backend}, "
                  f"concurrency: {settings.jobs.workers}, database: {settings.database_url.split('://')[0]})")

    async def run() -> None:
        components = build_components(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await components.start_worker()
            await stop.wait()
        finally:
            await components.stop_worker()

    asyncio.run(run())


def _with_components(config: Path | None, data_dir: Path | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Build the components, make the database ready, run ``work``, release everything.

    A MoorageError becomes its message on stderr and exit status 1.
    """
    from moorage.app import build_components
    from moorage.core.errors import MoorageError

    async def run() -> T:
        components = build_components(_settings(config, data_dir))
        try:
            await components.db_ready()
            return await work(components)
        finally:
            await components.close()

    try:
        return asyncio.run(run())
    except MoorageError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


@project_app.command("create")
def project_create(
    name: str,
    public: Annotated[bool, typer.Option("--public/--private", help="Anyone may pull")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a project (the first component of repository names)."""
    _with_components(config, data_dir, lambda c: c.projects.create(name, public))
    print(f"created project {name} ({'public' if public else 'private'})")


@project_app.command("list")
def project_list(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List projects as JSON lines."""
    for p in _with_components(config, data_dir, lambda c: c.projects.list()):
        print(json.dumps({"name": p.name, "public": p.public, "created_at": p.created_at.isoformat()}))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Apply schema migrations (the server also does this at start-up)."""

    async def nothing(_: Any) -> None:
        return None

    _with_components(config, data_dir, nothing)
    print("database is up to date")


@admin_app.command("reset-password")
def admin_reset_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the new password from stdin")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Set a user's password without the old one (and end their browser sessions)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    if not password:
        console.print("[red]the password must not be empty[/red]")
        raise typer.Exit(2)
    _with_components(config, data_dir, lambda c: c.users.reset_password(username, password))
    print(f"password of {username} reset")


@app.command("gc")
def garbage_collect(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be freed; change nothing")] = False,
    delete_untagged: Annotated[bool, typer.Option("--delete-untagged", help="Also delete untagged artifacts")] = False,
    time_window: Annotated[float | None, typer.Option(
        "--time-window", help="Hours: blobs touched more recently stay (default: gc.blob_time_window_hours)")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Collect garbage now, in this process, while the registry keeps serving (the run shows in
    the GC history; a server or worker that picks it up first runs it and this command follows)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from moorage.domain.gc import GcParams

    params = GcParams(delete_untagged=delete_untagged, dry_run=dry_run, time_window=time_window)
    finished = ("Success", "Error", "Stopped")

    async def work(c: Any) -> tuple[Any, str]:
        execution_id = await c.gc.run_now(params.to_dict())
        runner = asyncio.create_task(c.jobs.runner.run((await c.gc.task_ids(execution_id))[0]))
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[freed]}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task(f"gc {execution_id}: starting", total=None, freed="")
            while True:
                record = await c.gc.get(execution_id)
                extra = record.extra_attrs
                progress.update(bar, description=f"gc {execution_id}: {extra.get('phase', 'starting')}",
                                completed=extra.get("deleted_blobs", 0), total=extra.get("candidate_blobs") or None,
                                freed=f"{extra.get('freed_bytes', 0) / 1048576:.1f} MiB")
                if runner.done() and record.status in finished:
                    break
                await asyncio.wait({runner}, timeout=0.25)
        await runner
        return record, await c.gc.log(execution_id)

    record, log = _with_components(config, data_dir, work)
    print(log, end="")
    extra = record.extra_attrs
    print(f"gc {record.id}: {record.status}: {extra.get('deleted_blobs', 0)} blob(s) and "
          f"{extra.get('deleted_manifests', 0)} manifest(s) {'eligible' if dry_run else 'deleted'}, "
          f"{extra.get('freed_bytes', 0)} bytes {'would be ' if dry_run else ''}freed")
    if record.status != "Success":
        raise typer.Exit(1)


@app.command("replicate")
def replicate(
    policy: Annotated[str, typer.Argument(help="Replication policy name or id")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run a replication policy now, in this process, with a progress bar of its artifact
    tasks (the run shows in the policy's executions; servers and workers may take tasks too)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    finished = ("Success", "Error", "Stopped")

    async def work(c: Any) -> Any:
        found = None
        if policy.isdigit():
            found = await c.replication.get(int(policy))
        else:
            rows, _ = await c.replication.page(policy, False, 0, 1)
            found = rows[0] if rows else None
        if found is None:
            from moorage.core.errors import NotFound

            raise NotFound(f"replication policy {policy} not found")
        execution_id = await c.replication.start(found.id, "cli")
        await c.jobs.start(run_tasks=True)
        try:
            columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[note]}"), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                bar = progress.add_task(f"{found.name}: listing the source", total=None, note="")
                while True:
                    view = await c.replication.view(execution_id)
                    counts = view.counts
                    done = sum(counts.get(s, 0) for s in finished)
                    total = sum(counts.values())
                    if total:
                        progress.update(bar, description=f"{found.name}: execution {execution_id}", total=total,
                                        completed=done, note=f"{counts.get('Error', 0)} failed")
                    if view.record.status in finished:
                        return view
                    await asyncio.sleep(0.25)
        finally:
            await c.jobs.stop()

    view = _with_components(config, data_dir, work)
    counts = view.counts
    print(f"execution {view.record.id}: {view.record.status}: {counts.get('Success', 0)} succeeded, "
          f"{counts.get('Error', 0)} failed, {counts.get('Stopped', 0)} stopped"
          + (f" ({view.status_text})" if view.status_text else ""))
    if view.record.status != "Success":
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
