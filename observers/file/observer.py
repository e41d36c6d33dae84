"""FileStorageObserver: every run in a folder, in Sacred's layout, written safely.

::

    basedir/
      _sources/<stem>_<digest><ext>     content-addressed copies of the sources, shared
      _resources/<stem>_<digest><ext>   content-addressed copies of the resources, shared
      template.html                     optional Mako template, rendered to <id>/report.html
      .gnomon-next-id                   hint of the next free numeric id (mkdir decides)
      <id>/run.json                     experiment, command, host, start_time, meta, status,
                                        resources, artifacts, heartbeat, result, stop_time,
                                        fail_trace (rewritten atomically)
           config.json                  written at start
           cout.txt                     captured output, appended
           info.json                    the run's info, when it changes
           metrics.json                 Sacred's {name: {steps, values, timestamps}}
           metrics.jsonl                the append-only log metrics.json is built from
           <artifacts>                  private copies of the run's artifacts
           sources/<relpath>            queued runs only: the sources a worker will run

Unlike Sacred's observer it never leaves half-written JSON (temporary file and
rename), never writes bare ``NaN``, allocates ids safely when many processes start
runs in one folder at once, lets two observers share a folder, leaves the event
payloads untouched, and keeps the cost of each event proportional to what is new.
An artifact named like one of the run's own files (``run.json``, ``cout.txt``,
``report.html``...) is stored as ``artifact_<name>`` with a warning, never over it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from gnomon.errors import ObserverError
from gnomon.events import (
    ArtifactEvent,
    CompletedEvent,
    Event,
    FailedEvent,
    HeartbeatEvent,
    InterruptedEvent,
    MetricsEvent,
    OutputEvent,
    QueuedEvent,
    ResourceEvent,
    StartedEvent,
    thaw,
)
from gnomon.observers.file.content import ContentStore, artifact_name
from gnomon.observers.file.layout import (
    append_exactly,
    atomic_write,
    copy_atomic,
    count_chars,
    dump_json,
    fsync_path,
    iso,
    read_json,
    validate_run_id,
)
from gnomon.observers.file.metrics import METRICS_JSON, MetricsLog
from gnomon.observers.file.report import render_report
from gnomon.observers.file.run_folders import claim, open_run_dir, release, same_run
from gnomon.observers.file.url import DEFAULT_FILE_STORAGE_PRIORITY, file_storage_from_url, file_storage_url
from gnomon.observers.sacred_methods import SacredMethods
from gnomon.records import record

__all__ = ["DEFAULT_FILE_STORAGE_PRIORITY", "FileStorageObserver"]


logger = logging.getLogger("gnomon.observers.file.observer")

@record
class _RunState:
    """What an observer remembers about one run it is writing."""

    run_id: str
    dir: Path
    entry: dict[str, Any]
    metrics: MetricsLog
    cout_end: int = 0  # characters of the run's output stored so far
    passive: bool = False  # another observer of this process writes this folder
    info: dict[str, Any] | None = None


class FileStorageObserver(SacredMethods):
    """Stores runs as folders of JSON and text files (Sacred's layout; ``-F DIR``, ``file://``).

    ``basedir`` holds one folder per run, named by its id; ``resource_dir`` and
    ``source_dir`` default to ``basedir/_resources`` and ``basedir/_sources``.
    ``template`` (a ``str`` or ``Path``; default ``basedir/template.html`` when it
    exists) is rendered with Mako into ``report<suffix>`` when a run ends.
    ``copy_sources=False`` records where the sources are instead of copying them;
    ``copy_artifacts=False`` does the same for resources and sources that already
    lie inside ``basedir`` (Sacred's meaning of the flag). Artifacts are always
    copied: the file the event points to is a temporary snapshot.

    One observer may record several runs at once (from threads); events of a run
    that this instance has not seen start (``gnomon sync`` in a new process) resume
    from what is on disk.
    """

    def __init__(
        self,
        basedir: str | os.PathLike[str],
        resource_dir: str | os.PathLike[str] | None = None,
        source_dir: str | os.PathLike[str] | None = None,
        template: str | os.PathLike[str] | None = None,
        priority: int = DEFAULT_FILE_STORAGE_PRIORITY,
        copy_artifacts: bool = True,
        copy_sources: bool = True,
    ) -> None:
        self.basedir = os.path.abspath(os.fspath(basedir))
        self._base = Path(self.basedir)
        self.resource_dir = Path(os.path.abspath(resource_dir or self._base / "_resources"))
        self.source_dir = Path(os.path.abspath(source_dir or self._base / "_sources"))
        self.template = None if template is None else Path(template)
        self.priority = priority
        self.copy_artifacts = copy_artifacts
        self.copy_sources = copy_sources
        self.dir: str | None = None  # Sacred's attribute: the folder of the latest run
        self._runs: dict[str, _RunState] = {}
        self._own_ids: dict[str, str] = {}  # run_uid -> the id given here instead of a suggested one
        self._lock = threading.Lock()
        self._mako_warned = False
        self._store = ContentStore(
            self._base,
            self.source_dir,
            self.resource_dir,
            copy_sources=copy_sources,
            copy_artifacts=copy_artifacts,
        )
        self.url = file_storage_url(self)

    # ------------------------------------------------------------ construction
    @classmethod
    def create_from(cls, *args: Any, **kwargs: Any) -> FileStorageObserver:
        """Sacred's alternative constructor; takes the same arguments as the class."""
        return cls(*args, **kwargs)

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> FileStorageObserver:
        """Sacred's deprecated spelling of the constructor, kept for old scripts."""
        return cls(*args, **kwargs)

    @classmethod
    def from_url(cls, url: str) -> FileStorageObserver:
        """Build from ``file:///abs``, ``file://rel``, ``file:rel`` or a plain path.

        Options go in the query: ``?priority=5&template=t.html&copy_sources=false``
        (also ``resource_dir``, ``source_dir``, ``copy_artifacts``).
        """
        basedir, options = file_storage_from_url(url)
        return cls(basedir, **options)

    def to_url(self) -> str:
        """``file://`` + the absolute basedir, with any non-default option in the query."""
        return self.url

    def __repr__(self) -> str:
        return f"FileStorageObserver({self.basedir!r})"

    def __eq__(self, other: object) -> bool:
        """Observers of the same folder are equal, as Sacred's are."""
        if isinstance(other, FileStorageObserver):
            return self.basedir == other.basedir
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("file", self.basedir))

    # ------------------------------------------------------------ run folders
    def _claim(self, path: Path) -> bool:
        return claim(self, path)

    def _release(self, path: Path) -> None:
        release(self, path)

    def _open_run_dir(self, event: StartedEvent | QueuedEvent) -> tuple[str, Path, dict[str, Any] | None]:
        return open_run_dir(self._base, event, self._own_ids)

    def _load(self, run_id: str) -> _RunState:
        """The state of a run: from memory, or resumed from its folder on disk."""
        with self._lock:
            state = self._runs.get(run_id)
        if state is not None:
            return state
        path = self._base / validate_run_id(str(run_id))
        try:
            entry = read_json(path / "run.json")
        except FileNotFoundError:
            raise ObserverError(
                f"run {run_id!r} has no run.json in {self.basedir}: its started event was never "
                "stored here, so later events cannot be added (deliver the spool in order)"
            ) from None
        if self._claim(path):
            state = _RunState(
                run_id=run_id,
                dir=path,
                entry=entry,
                metrics=MetricsLog.resume(path),
                cout_end=count_chars(path / "cout.txt"),
            )
        else:  # another observer here writes the folder: touch nothing
            state = _RunState(
                run_id=run_id, dir=path, entry=entry, metrics=MetricsLog(path), passive=True
            )
        with self._lock:
            return self._runs.setdefault(run_id, state)

    def _write_entry(self, state: _RunState, *, fsync: bool = False) -> None:
        atomic_write(state.dir / "run.json", dump_json(state.entry), fsync=fsync)

    def _entry_start(self, event: StartedEvent | QueuedEvent) -> dict[str, Any]:
        """The first run.json of a run; payloads are copied, never changed in place."""
        experiment = thaw(event.experiment)
        experiment["sources"] = self._store.sources(experiment)
        return {
            "experiment": experiment,
            "command": event.command,
            "host": thaw(event.host),
            "meta": thaw(event.meta),
        }

    # ------------------------------------------------------------ start events
    def on_queued(self, event: QueuedEvent) -> str:
        """Record a queued run: run.json (status QUEUED), config.json and its sources."""
        entry = self._entry_start(event)
        entry["meta"].setdefault("queue_time", iso(event.time))
        entry["status"] = "QUEUED"
        run_id, path, existing = self._open_run_dir(event)
        if existing is not None and existing != entry and not same_run(existing, event):
            raise ObserverError(
                f"run folder {path} already holds another run (status {existing.get('status')!r}); "
                "choose another id or remove the folder"
            )
        atomic_write(path / "config.json", dump_json(thaw(event.config)))
        if self.copy_sources:
            self._store.queued_sources(thaw(event.experiment), path)
        atomic_write(path / "run.json", dump_json(entry))
        self.dir = str(path)
        return run_id

    def on_started(self, event: StartedEvent) -> str:
        """Create (or join) the run's folder and write run.json, config.json, cout.txt."""
        entry = self._entry_start(event)
        entry.update(
            start_time=iso(event.time),
            status="RUNNING",
            resources=[],
            artifacts=[],
            heartbeat=None,
        )
        run_id, path, existing = self._open_run_dir(event)
        self.dir = str(path)
        if existing is not None and existing.get("status") != "QUEUED":
            if not same_run(existing, event):
                raise ObserverError(
                    f"run folder {path} already holds another run (started "
                    f"{existing.get('start_time')}, command {existing.get('command')!r}); "
                    f"choose another id than {run_id!r} or remove the folder"
                )
            # The same run: delivered again (spool replay) or stored by another
            # observer on this folder. Keep what is there and carry on from it.
            with self._lock:
                self._runs.pop(run_id, None)
            self._load(run_id)
            return run_id
        state = _RunState(run_id=run_id, dir=path, entry=entry, metrics=MetricsLog(path))
        state.passive = not self._claim(path)
        if existing is not None:  # a queued run taken over by a worker
            MetricsLog.remove_stale(path)
        try:
            atomic_write(path / "config.json", dump_json(thaw(event.config)))
            (path / "cout.txt").touch()
            atomic_write(path / METRICS_JSON, b"{}\n")
            self._write_entry(state)
        except BaseException:
            if existing is None and run_id != event.run_id:
                # A folder this call allocated: the retry allocates afresh, so leave no orphan.
                import shutil

                shutil.rmtree(path, ignore_errors=True)
            raise
        with self._lock:
            self._runs[run_id] = state
        return run_id

    # ------------------------------------------------------------ run events
    def on_output(self, event: OutputEvent) -> None:
        """Append new output at its offset; text already stored (a replay) is skipped."""
        state = self._load(str(event.run_id))
        if state.passive:
            return
        end = event.offset + len(event.text)
        if end <= state.cout_end:
            return
        text = event.text
        if event.offset < state.cout_end:
            text = text[state.cout_end - event.offset :]
        elif event.offset > state.cout_end:
            logger.warning(
                "run %s: output from character %d to %d never arrived; "
                "cout.txt continues with the text that follows",
                state.run_id,
                state.cout_end,
                event.offset,
            )
        append_exactly(state.dir / "cout.txt", text.encode("utf-8", errors="replace"))
        state.cout_end = end

    def on_metrics(self, event: MetricsEvent) -> None:
        """Append a batch of points to metrics.jsonl, then to metrics.json (in place, see metrics.py)."""
        state = self._load(str(event.run_id))
        if state.passive:
            return
        state.metrics.append(event.seq, event.series)
        state.metrics.refresh()  # also after a replay: a refresh that failed is made good

    def on_heartbeat(self, event: HeartbeatEvent) -> None:
        """Rewrite run.json (heartbeat, result), info.json when the info changed; metrics.json is current."""
        state = self._load(str(event.run_id))
        if state.passive or state.entry.get("stop_time") is not None:
            return  # a beat replayed after the run ended must not undo its end
        state.metrics.refresh()  # points a throttled rewrite held back go to metrics.json now
        if event.info is not None:
            state.info = thaw(event.info)
            atomic_write(state.dir / "info.json", dump_json(state.info))
        state.entry["heartbeat"] = iso(event.time)
        state.entry["result"] = thaw(event.result)
        self._write_entry(state)

    def on_resource(self, event: ResourceEvent) -> None:
        """Store the file once in ``_resources`` and list ``[path, stored path]`` in run.json."""
        state = self._load(str(event.run_id))
        if state.passive:
            return
        stored = self._store.resource(event.filename, event.digest)
        pair = [event.filename, stored]
        resources = state.entry.setdefault("resources", [])
        if pair not in resources:
            resources.append(pair)
            self._write_entry(state)

    def on_artifact(self, event: ArtifactEvent) -> None:
        """Copy the artifact's snapshot into the run folder and list its name in run.json."""
        state = self._load(str(event.run_id))
        if state.passive:
            return
        name = artifact_name(event.name, state.run_id, state.dir)
        target = state.dir / name
        if os.path.exists(event.filename):
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_atomic(event.filename, target)
        elif not target.exists():
            logger.warning(
                "run %s: the snapshot %s of artifact %r is gone; the artifact is not stored",
                state.run_id,
                event.filename,
                event.name,
            )
            return
        artifacts = state.entry.setdefault("artifacts", [])
        if name not in artifacts:
            artifacts.append(name)
            self._write_entry(state)

    # ------------------------------------------------------------ final events
    def _finish(self, event: Event, **fields: Any) -> None:
        state = self._load(str(event.run_id))
        try:
            if state.passive:
                return
            state.entry.update(fields, stop_time=iso(event.time))
            state.metrics.materialize(fsync=True)
            self._write_entry(state, fsync=True)
            fsync_path(state.dir / "cout.txt")
            self._render_report(state)
        finally:
            with self._lock:
                self._runs.pop(state.run_id, None)
                self._own_ids.pop(str((state.entry.get("meta") or {}).get("run_uid")), None)
            self._release(state.dir)

    def on_completed(self, event: CompletedEvent) -> None:
        """Status COMPLETED, stop time and result; metrics.json and the report are written."""
        self._finish(event, status="COMPLETED", result=thaw(event.result))

    def on_failed(self, event: FailedEvent) -> None:
        """Status FAILED, stop time and the traceback lines."""
        self._finish(event, status="FAILED", fail_trace=list(event.fail_trace))

    def on_interrupted(self, event: InterruptedEvent) -> None:
        """Status INTERRUPTED (or the interrupt's own, e.g. TIMEOUT) and stop time."""
        self._finish(event, status=event.status)

    def _render_report(self, state: _RunState) -> None:
        template = self.template
        if template is None:
            default = self._base / "template.html"
            if not default.exists():
                return
            template = default
        if state.info is None:
            with contextlib.suppress(FileNotFoundError):
                state.info = read_json(state.dir / "info.json")
        if not render_report(
            template, state.entry, state.dir, state.info or {}, warned=self._mako_warned
        ):
            self._mako_warned = True

    # ------------------------------------------------------------ lifecycle
    def flush(self) -> None:
        """Make run.json and cout.txt of the runs in progress durable (fsync)."""
        with self._lock:
            states = list(self._runs.values())
        for state in states:
            if not state.passive:
                fsync_path(state.dir / "run.json")
                fsync_path(state.dir / "cout.txt")

    def close(self) -> None:
        """Flush and forget the runs in progress; later events resume from disk."""
        self.flush()
        with self._lock:
            states, self._runs = list(self._runs.values()), {}
        for state in states:
            self._release(state.dir)
