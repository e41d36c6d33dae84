"""A run: one execution of a command, and everything recorded about it.

The lifecycle is: observers record the start (synchronously: they pick the id),
output capture and heartbeats begin, pre-run hooks, the main function and post-run
hooks run, and exactly one final event records how it ended. Every exit path ends
the same way: the heartbeat stops, capture stops and hands back every byte not yet
shipped, a last output/metrics/heartbeat batch goes out, then the final event, then
the observer queues drain (or spool). So output printed just before an exception,
``sys.exit``, Ctrl-C or SIGTERM is never lost, and ``-b 0`` loses nothing either.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import IO, Any

from gnomon import serialize
from gnomon.artifacts import artifact_fields, resource_fields
from gnomon.collector import freeze_startup_objects
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
    freeze,
    utcnow,
)
from gnomon.heartbeat import Heartbeat
from gnomon.metrics import MetricsBuffer
from gnomon.serialize import encode_lenient as _lenient
from gnomon.signals import Terminated, install_signal_handlers
from gnomon.tracebacks import filtered_traceback

__all__ = ["Run", "Terminated"]


def _default_logger() -> logging.Logger:
    return logging.getLogger("gnomon")


class Run:
    """One execution of an experiment command; ``_run`` inside captured functions.

    Created by :meth:`Experiment.run` (not started); command-line options adjust its
    attributes; calling it executes it once.
    """

    def __init__(
        self,
        *,
        config: dict[str, Any],
        main_function: Callable[..., Any],
        command: str = "main",
        experiment_info: dict[str, Any] | None = None,
        host_info: dict[str, Any] | None = None,
        meta_info: dict[str, Any] | None = None,
        observers: Sequence[Any] = (),
        pre_run_hooks: Sequence[Callable[[], Any]] = (),
        post_run_hooks: Sequence[Callable[[], Any]] = (),
        root_logger: logging.Logger | None = None,
        run_logger: logging.Logger | None = None,
        captured_out_filter: Callable[[str], str] | None = None,
        config_modifications: Any = None,
    ) -> None:
        from gnomon.settings import SETTINGS

        self._given_id: str | None = None
        self._dispatcher: Any = None
        self.config = config
        self.config_modifications = config_modifications
        self.main_function = main_function
        self.command = command
        self.experiment_info = experiment_info if experiment_info is not None else {}
        self.host_info = host_info if host_info is not None else {}
        self.meta_info = meta_info if meta_info is not None else {}
        self.meta_info.setdefault("command", command)
        self.observers: list[Any] = list(observers)
        self.pre_run_hooks = list(pre_run_hooks)
        self.post_run_hooks = list(post_run_hooks)
        self.root_logger = root_logger or _default_logger()
        self.run_logger = run_logger or self.root_logger
        self.captured_out_filter = captured_out_filter
        self.info: dict[str, Any] = {}
        self.beat_interval: float = float(SETTINGS.DEFAULT_BEAT_INTERVAL)
        self.capture_mode: str | None = None
        self.debug = False
        self.pdb = False
        self.force = False
        self.unobserved = False
        self.queue_only = False
        self.status: str | None = None
        self.result: Any = None
        self.start_time: datetime | None = None
        self.stop_time: datetime | None = None
        self.fail_trace: list[str] | None = None
        self.run_uid = uuid.uuid4().hex
        self._metrics = MetricsBuffer()
        # Training loops call this millions of times: skip one Python frame per call.
        self.log_scalar = self._metrics.log_scalar  # type: ignore[method-assign]
        self._seq = itertools.count()
        self._output: Any = None  # a Transcript once the run starts; on disk when large
        self._beat_lock = threading.Lock()
        self._last_info: bytes | None = None
        self._capture: Any = None
        self._folder: Any = None
        self._heartbeat: Heartbeat | None = None
        self._started = False
        self._finishing = False
        self._staged = 0
        self._kept_as_text: set[str] = set()  # what _lenient has warned about

    # -- what user code calls --------------------------------------------------------------
    @property
    def _id(self) -> Any:
        """The run's id: given (``--id``), else the first a store gave, as soon as it gave it.

        It has the type the store gave it, as in Sacred: an ``int`` from MongoObserver
        (so ``runs.find_one({"_id": _run._id})`` finds the run), a string from file
        storage and SQL. A store that records the start after the run went on
        without waiting for it (a busy database) still gives the run its id; from
        then on ``_run._id`` and the run's events carry it.
        """
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher.run_id is not None:
            return dispatcher.run_id_value
        return self._given_id

    @_id.setter
    def _id(self, value: Any) -> None:
        self._given_id = value

    @property
    def _event_id(self) -> str | None:
        """The run's id as events carry it: always a string."""
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher.run_id is not None:
            return str(dispatcher.run_id)
        return None if self._given_id is None else str(self._given_id)

    @property
    def captured_out(self) -> str:
        """All output captured so far, folded as a terminal would show it.

        Large output is kept on disk, not in memory, and read back here on each call.
        """
        return self._output.text() if self._output is not None else ""

    def log_scalar(self, name: str, value: Any, step: Any = None) -> None:
        """Record one metric point (numpy scalars accepted); buffered, shipped about every half second."""
        self._metrics.log_scalar(name, value, step)

    def add_resource(self, filename: str | os.PathLike[str]) -> None:
        """Record that the run read ``filename`` (stored once per content across runs)."""
        self._emit(ResourceEvent, **resource_fields(filename))

    def open_resource(self, filename: str | os.PathLike[str], mode: str = "r") -> IO[Any]:
        """Open a file for reading and record it as a resource."""
        self.add_resource(filename)
        return open(filename, mode)

    def add_artifact(
        self,
        filename: str | os.PathLike[str],
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Store a file the run produced (copied at once, so the run may change it straight away).

        A ``name`` no store can keep as given (empty, absolute, or with a ``.`` or
        ``..`` part) raises ValueError rather than being stored under another name.
        """
        staging = self._staging_dir()
        self._staged += 1
        fields = artifact_fields(filename, name, metadata, content_type, staging=staging, number=self._staged)
        self._emit(ArtifactEvent, **fields)

    # -- lifecycle ---------------------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        """Execute the run (Sacred's spelling of :meth:`run`)."""
        return self.run(*args)

    def run(self, *args: Any) -> Any:
        """Execute the run once, recording its start, progress and end."""
        if self._started:
            raise RuntimeError("A run can only be executed once; create a new one with ex.run().")
        self._started = True
        observers = self._prepare_observers()
        self._dispatcher = self._make_dispatcher(observers)
        if self.queue_only:
            return self._queue()
        return self._execute(observers, args)

    def _prepare_observers(self) -> list[Any]:
        from gnomon.observers.base import as_observer

        if self.unobserved:
            return []
        observers = [as_observer(o) for o in self.observers]
        observers.sort(key=lambda o: -float(getattr(o, "priority", 0)))
        if not observers and not self.debug:
            self.run_logger.warning("No observers have been added to this run")
        return observers

    def _make_dispatcher(self, observers: list[Any]) -> Any:
        from gnomon.dispatch import Dispatcher
        from gnomon.settings import SETTINGS
        from gnomon.spool import Spool

        return Dispatcher(
            observers,
            self.run_uid,
            spool=Spool(),
            start_timeout=float(SETTINGS.START_TIMEOUT),
            connect_timeout=float(SETTINGS.CONNECT_TIMEOUT),
            drain_timeout=float(SETTINGS.DRAIN_TIMEOUT),
            queue_size=int(SETTINGS.QUEUE_SIZE),
        )

    def _start_payload(self) -> dict[str, Any]:
        return {
            "experiment": freeze(_lenient(self.experiment_info, "experiment info")),
            "command": self.command,
            "host": freeze(_lenient(self.host_info, "host info")),
            "config": freeze(serialize.encode(self.config, where="config")),
            # The beat interval and process id let every reader decide the same way
            # whether a RUNNING run has died (gnomon.query); run_uid names the run in
            # every store, whatever id each gave it.
            "meta": freeze(
                _lenient(
                    {
                        **self.meta_info,
                        "beat_interval": self.beat_interval,
                        "pid": os.getpid(),
                        "run_uid": self.run_uid,
                    },
                    "meta info",
                )
            ),
        }

    def _queue(self) -> None:
        self.status = "QUEUED"
        event = QueuedEvent(
            run_id=self._event_id, seq=next(self._seq), time=utcnow(), run_uid=self.run_uid, **self._start_payload()
        )
        self._id = self._dispatcher.start(event)
        self.run_logger.info("Queued-up run with ID %s", self._id)
        self._dispatcher.close()
        self._cleanup_staging()
        return None

    def _execute(self, observers: list[Any], args: tuple[Any, ...]) -> Any:
        from gnomon.capture import OutputFolder, Transcript, start_capture
        from gnomon.settings import SETTINGS

        mode = self.capture_mode or (SETTINGS.CAPTURE_MODE if observers else "no")
        payload = self._start_payload()  # fails early, before anything starts, on a bad config
        self._folder = OutputFolder()
        self._output = Transcript()
        self._capture = start_capture(mode)
        restore_signals = install_signal_handlers(lambda: self._finishing, self.run_logger)
        try:
            self.run_logger.info("Running command '%s'", self.command)
            # The run's own time starts once the observers reached their servers (or
            # were found down): waiting for them is not part of its start or duration.
            self._dispatcher.wait_reached()
            self.start_time = utcnow()
            self.status = "RUNNING"
            event = StartedEvent(
                run_id=self._event_id, seq=next(self._seq), time=self.start_time, run_uid=self.run_uid, **payload
            )
            self._id = self._dispatcher.start(event)
            if self._id is not None:
                self.run_logger.info('Started run with ID "%s"', self._id)
            else:
                self.run_logger.info("Started")
            self._start_heartbeat()
            for hook in self.pre_run_hooks:
                hook()
            freeze_startup_objects()
            self.result = self.main_function(*args)
            for hook in self.post_run_hooks:
                hook()
            if self.result is not None:
                self.run_logger.info("Result: %s", self.result)
            self.run_logger.info("Completed after %s", self._elapsed())
            self._finish(
                CompletedEvent, "COMPLETED", result=freeze(_lenient(self.result, "result", self._kept_as_text))
            )
            return self.result
        except SystemExit as error:
            if error.code in (0, None):
                self._finish(
                    CompletedEvent, "COMPLETED", result=freeze(_lenient(self.result, "result", self._kept_as_text))
                )
            else:
                self._fail(error)
            raise
        except KeyboardInterrupt as error:
            status = getattr(error, "STATUS", "INTERRUPTED")
            self.run_logger.warning("Aborted after %s!", self._elapsed())
            self._finish(InterruptedEvent, status, status=status)
            raise
        except BaseException as error:
            self._fail(error)
            raise
        finally:
            self._finishing = True
            try:
                if self.status == "RUNNING":  # an error inside the recording itself
                    self._finish(FailedEvent, "FAILED", fail_trace=tuple(self.fail_trace or ()))
                self._dispatcher.close()
                self._cleanup_staging()
            finally:
                restore_signals()

    def _fail(self, error: BaseException) -> None:
        if self.debug:
            self.fail_trace = traceback.format_exception(type(error), error, error.__traceback__)
        else:
            text, _ = filtered_traceback(error)
            self.fail_trace = text.splitlines(keepends=True)
        self.run_logger.error("Failed after %s!", self._elapsed())
        self._finish(FailedEvent, "FAILED", fail_trace=tuple(self.fail_trace))

    def _elapsed(self) -> timedelta:
        start = self.start_time or utcnow()
        return timedelta(seconds=round((utcnow() - start).total_seconds()))

    def _finish(self, kind: type[Event], final_status: str, **fields: Any) -> None:
        """Stop beats and capture, ship everything left, then the final event."""
        if self.status not in ("RUNNING", None):
            return
        self._finishing = True  # signals from here on wait until the end is recorded
        self._stop_heartbeat()
        remaining = self._capture.stop() if self._capture is not None else ""
        with self._beat_lock:
            self._collect(remaining, final=True)
        self.status = final_status
        self.stop_time = utcnow()
        self._emit(kind, at=self.stop_time, **fields)

    # -- heartbeats ----------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._heartbeat = Heartbeat(self, self.beat_interval, self._beat_lock)
        self._heartbeat.start()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()

    # What the heartbeat thread calls (under the beat lock); nothing once the run has ended.
    def _record_beat(self) -> None:
        if self.status == "RUNNING":
            self._collect(self._capture.read(), final=False)

    def _record_output(self) -> None:
        if self.status == "RUNNING":
            self._ship(self._capture.read())

    def _record_metrics(self) -> None:
        if self.status == "RUNNING":
            self._ship_metrics()

    def _unshipped(self) -> tuple[int, int]:
        return self._capture.waiting, len(self._metrics)

    def _collect(self, raw: str, *, final: bool) -> None:
        """Ship new output, metric points and changed info as events (a heartbeat)."""
        now = self._ship(raw, final=final)
        result = freeze(_lenient(self.result, "result", self._kept_as_text))
        self._emit(HeartbeatEvent, at=now, info=self._changed_info(), result=result)

    def _ship(self, raw: str, *, final: bool = False) -> datetime:
        """Ship new output and metric points as events; returns their time."""
        text = self._folder.feed(raw) if raw else ""
        if final:
            text += self._folder.finish()
        if text and self.captured_out_filter is not None:
            try:
                text = self.captured_out_filter(text)
            except Exception:  # a failing filter must not lose the output
                logging.getLogger("gnomon.run").exception(
                    "captured_out_filter failed; output kept unfiltered"
                )
        now = utcnow()
        # Points are drained before the first event is queued: an observer thread woken
        # by it would contend for the GIL with this CPU-bound step and slow both.
        series = self._metrics.drain(final=final)
        if text:
            self._emit(OutputEvent, at=now, text=text, offset=len(self._output))
            self._output.append(text)
        if series:
            self._emit(MetricsEvent, at=now, series=series)
        return now

    def _ship_metrics(self, now: datetime | None = None, *, final: bool = False) -> None:
        series = self._metrics.drain(final=final)
        if series:
            self._emit(MetricsEvent, at=now, series=series)

    def _changed_info(self) -> Any:
        import orjson

        encoded = _lenient(self.info, "info", self._kept_as_text)
        data = orjson.dumps(encoded)
        if data == self._last_info:
            return None
        self._last_info = data
        return freeze(encoded)

    # -- plumbing ---------------------------------------------------------------------------
    def _emit(self, kind: type[Event], at: datetime | None = None, **fields: Any) -> None:
        """Number an event and queue it for every observer (``at`` defaults to now)."""
        if self._dispatcher is None:
            raise RuntimeError(
                "This run has not started; files can be recorded only while it runs."
            )
        self._dispatcher.emit(kind(run_id=self._event_id, seq=next(self._seq), time=at or utcnow(), **fields))

    def _staging_dir(self) -> str:
        if self._dispatcher is None:
            raise RuntimeError(
                "This run has not started; artifacts can be added only while it runs."
            )
        return str(self._dispatcher.spool.staging(self.run_uid))

    def _cleanup_staging(self) -> None:
        if self._staged and not self._dispatcher.any_spilled:
            import shutil

            shutil.rmtree(self._dispatcher.spool.staging_dir(self.run_uid), ignore_errors=True)

    def __repr__(self) -> str:
        return f"<Run id={self._id!r} command={self.command!r} status={self.status!r}>"
