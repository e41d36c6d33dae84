"""One stored run read back: its record, metrics as Series, output, files and lineage.

What Incense gives a notebook (``run.config``, ``run.metrics["loss"]`` as a
Series indexed by step, ``run.artifacts["model.pt"].save(...)``), the same for
every store. Values are read-only views; loading an artifact never unpickles
unless asked to.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

from gnomon.errors import RunNotFoundError
from gnomon.query.protocol import ArtifactInfo, ResourceInfo, SourceInfo

if TYPE_CHECKING:
    import pandas as pd

    from gnomon.query.lineage import Graph
    from gnomon.query.store import Store

__all__ = ["Artifact", "Source", "StoredRun"]

_IMAGE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml",
}  # fmt: skip


class Artifact:
    """A file a run added: metadata at hand, content streamed on demand."""

    def __init__(self, store: Store, run_id: str, info: ArtifactInfo) -> None:
        self._store = store
        self.run_id = run_id
        self.name = info.name
        self.size = info.size
        self._digest = info.digest
        self.metadata: Mapping[str, Any] = MappingProxyType(dict(info.metadata or {}))
        self.content_type = info.content_type or _guess_type(info.name)

    def __repr__(self) -> str:
        return f"<Artifact {self.name!r} of run {self.run_id} ({self.size} bytes, {self.content_type})>"

    @property
    def digest(self) -> str | None:
        """The hex sha256 of the content: as the store recorded it, else computed (streamed) on first use."""
        if self._digest is None:
            known = getattr(self._store.backend, "artifact_digest", None)  # a store that caches digests
            if known is not None:
                self._digest = known(self.run_id, self.name)
            if self._digest is None:
                import hashlib

                digest = hashlib.sha256()
                with self.open() as stream:
                    while chunk := stream.read(1 << 20):
                        digest.update(chunk)
                self._digest = digest.hexdigest()
        return self._digest

    def open(self) -> IO[bytes]:
        """A binary stream of the content (not read into memory)."""
        try:
            return self._store.backend.open_artifact(self.run_id, self.name)
        except KeyError:
            raise RunNotFoundError(f"run {self.run_id} has no artifact {self.name!r} in {self._store.url}") from None

    def read_bytes(self) -> bytes:
        """The whole content."""
        with self.open() as stream:
            return stream.read()

    def save(self, directory: str | Path = ".") -> Path:
        """Copy the content to ``directory/<name>`` (streamed; sub-folders of the name kept) and return the path."""
        from pathlib import PurePosixPath

        relative = PurePosixPath(self.name.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            relative = PurePosixPath(relative.name or "artifact")
        target = Path(directory).joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.open() as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        return target

    def load(self, *, allow_pickle: bool = False) -> Any:
        """The content as a Python value, by type: JSON, CSV (a DataFrame), ``.npy``/``.npz``, text, else bytes.

        A pickle is loaded only with ``allow_pickle=True``: unpickling runs code from the file.
        """
        suffix = Path(self.name).suffix.lower()
        if suffix in (".pkl", ".pickle", ".pt", ".joblib") and not allow_pickle:
            raise ValueError(
                f"{self.name!r} is a pickle; loading it runs code from the file. "
                "Pass allow_pickle=True only if you trust where it came from."
            )
        if suffix in (".pkl", ".pickle"):
            import pickle

            with self.open() as stream:
                return pickle.load(stream)  # unpickling: explicitly allowed by the caller
        if suffix == ".json":
            return json.loads(self.read_bytes())
        if suffix in (".csv", ".tsv"):
            import pandas as pd

            with self.open() as stream:
                return pd.read_csv(stream, sep="\t" if suffix == ".tsv" else ",")
        if suffix in (".npy", ".npz"):
            import numpy as np

            return np.load(io.BytesIO(self.read_bytes()), allow_pickle=allow_pickle)
        if suffix in (".txt", ".log", ".md", ".yaml", ".yml", ".html", ".svg") or self.content_type.startswith("text/"):
            return self.read_bytes().decode("utf-8", errors="replace")
        return self.read_bytes()

    def _repr_png_(self) -> bytes | None:
        return self.read_bytes() if self.content_type == "image/png" else None

    def _repr_html_(self) -> str | None:
        import html

        if self.content_type.startswith("text/") and (self.size or 0) < 100_000:
            return f"<pre>{html.escape(self.read_bytes().decode('utf-8', errors='replace'))}</pre>"
        return None


class Source:
    """A source file of the run's experiment: its path (relative to the experiment's folder) and stored content."""

    def __init__(self, store: Store, run_id: str, info: SourceInfo) -> None:
        self._store = store
        self.run_id = run_id
        self.path = info.path
        self.digest = info.digest

    def __repr__(self) -> str:
        return f"<Source {self.path!r} of run {self.run_id} (digest {(self.digest or '?')[:12]})>"

    def open(self) -> IO[bytes]:
        """A binary stream of the content as stored with the run (not read into memory)."""
        try:
            return self._store.backend.open_source(self.run_id, self.path)
        except RunNotFoundError:
            raise
        except KeyError as error:
            message = error.args[0] if error.args else f"run {self.run_id} has no source {self.path!r}"
            raise RunNotFoundError(str(message)) from None

    def read_bytes(self) -> bytes:
        """The whole content."""
        with self.open() as stream:
            return stream.read()

    def read_text(self, encoding: str = "utf-8", errors: str = "replace") -> str:
        """The content decoded as text (undecodable bytes replaced unless ``errors`` says otherwise)."""
        return self.read_bytes().decode(encoding, errors)


def _guess_type(name: str) -> str:
    import mimetypes

    suffix = Path(name).suffix.lower()
    return _IMAGE_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class _Metrics(Mapping[str, "pd.Series"]):
    """``run.metrics["loss"]``: a Series indexed by step, as Incense gives (read when first used)."""

    def __init__(self, run: StoredRun) -> None:
        self._run = run

    def __getitem__(self, name: str) -> pd.Series:
        import pandas as pd

        if name not in self._run._record.get("metrics", {}):
            raise KeyError(f"run {self._run.id} has no metric {name!r}; it has {sorted(self)}")
        from gnomon.query.frames import series_arrays

        arrays = series_arrays(self._run._store, [self._run._record], [name])[(self._run.id, name)]
        return pd.Series(arrays.values, index=pd.Index(arrays.steps, name="step"), name=name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._run._record.get("metrics", {})))

    def __len__(self) -> int:
        return len(self._run._record.get("metrics", {}))


class StoredRun:
    """A run as a store holds it. Summary fields are at hand; the rest is read on first use."""

    def __init__(self, store: Store, record: dict[str, Any], *, full: bool) -> None:
        self._store = store
        self._record = record
        self._full = full

    def __repr__(self) -> str:
        return f"<StoredRun {self.id} {self.experiment!r} {self.status}>"

    def _whole(self) -> dict[str, Any]:
        if not self._full:
            fresh = self._store.run(self.id)
            self._record, self._full = fresh._record, True
        return self._record

    def _view(self, key: str) -> Any:
        value = self._whole().get(key)
        return MappingProxyType(value) if isinstance(value, dict) else value

    @property
    def id(self) -> str:
        """The run's id in its store (a string everywhere; Mongo's integers as decimals)."""
        return str(self._record["run_id"])

    experiment = property(lambda self: self._record.get("experiment"), doc="The experiment's name.")
    command = property(lambda self: self._record.get("command"), doc="The command that ran.")
    status = property(lambda self: self._record.get("status"), doc="The status, DIED derived for silent RUNNING runs.")
    recorded_status = property(lambda self: self._record.get("recorded_status"), doc="The status as stored.")
    start_time = property(lambda self: self._record.get("start_time"), doc="When the run started (UTC).")
    stop_time = property(lambda self: self._record.get("stop_time"), doc="When the run ended (UTC), if it did.")
    heartbeat = property(lambda self: self._record.get("heartbeat"), doc="The last heartbeat (UTC), if any.")
    result = property(lambda self: self._record.get("result"), doc="The main function's return value, decoded.")
    notes = property(lambda self: self._record.get("notes"), doc="The notes (meta.comment until annotated).")
    comment = property(lambda self: self._record.get("comment"), doc="The comment given with --comment.")
    hostname = property(lambda self: self._record.get("hostname"), doc="The host the run ran on.")

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags (the config's ``tags`` list until annotated)."""
        return tuple(self._record.get("tags") or ())

    @property
    def config(self) -> Mapping[str, Any]:
        """The configuration the run used (read-only)."""
        return MappingProxyType(self._record.get("config") or {})

    info = property(lambda self: self._view("info"), doc="What the run put in ``_run.info``.")
    meta = property(lambda self: self._view("meta"), doc="Command line, options, named configs, updates.")
    host = property(lambda self: self._view("host"), doc="The host's description: OS, CPU, GPUs, Python.")
    fail_trace = property(lambda self: self._whole().get("fail_trace"), doc="The traceback of a failed run.")
    experiment_info = property(lambda self: self._view("experiment_info"), doc="The stored experiment block.")

    @property
    def metrics(self) -> Mapping[str, pd.Series]:
        """Each metric as a pandas Series indexed by step."""
        return _Metrics(self)

    def metric(
        self,
        name: str,
        *,
        x: str = "step",
        range: tuple[float, float] | None = None,  # noqa: A002 - the documented name
        max_points: int | None = None,
        smooth: str | None = None,
    ) -> pd.DataFrame:
        """One metric as a DataFrame (``step, value, time``), optionally zoomed, downsampled and smoothed."""
        if name not in self._record.get("metrics", {}):
            raise KeyError(f"run {self.id} has no metric {name!r}; it has {sorted(self._record.get('metrics', {}))}")
        from gnomon.query.frames import series_frame

        frame = series_frame(
            self._store, [self._record], [name], x=x, max_points=max_points, smooth=smooth, window=range
        )
        return frame.drop(columns=["run_id", "name"]).reset_index(drop=True)

    @property
    def output_length(self) -> int:
        """How many characters of output are stored (where to start following a live run)."""
        return self._store.backend.output_length(self.id)

    def output(self, *, offset: int = 0, tail: int | None = None) -> str:
        """The captured output from character ``offset``, or only its last ``tail`` lines."""
        backend = self._store.backend
        if tail is None:
            return backend.output(self.id, offset)
        if tail <= 0:
            return ""
        length = backend.output_length(self.id)
        window = 4096
        while True:
            start = max(offset, length - window)
            text = backend.output(self.id, start)
            lines = text.splitlines(keepends=True)
            if len(lines) > tail or start == offset:
                return "".join(lines[-tail:])
            window *= 4

    @property
    def sources(self) -> Mapping[str, Source]:
        """The experiment's source files by path: digests at hand, content read with ``.read_text()``."""
        sources = self._whole().get("sources", [])
        return MappingProxyType({s.path: Source(self._store, self.id, s) for s in sources})

    @property
    def resources(self) -> list[ResourceInfo]:
        """The files the run read as resources."""
        return list(self._whole().get("resources", []))

    @property
    def artifacts(self) -> Mapping[str, Artifact]:
        """The files the run added, by name."""
        return MappingProxyType({a.name: Artifact(self._store, self.id, a) for a in self._whole().get("artifacts", [])})

    def lineage(self, direction: str = "both", depth: int = 1) -> Graph:
        """Runs whose artifacts this run read (``up``) and runs that read this run's artifacts (``down``)."""
        from gnomon.query.lineage import walk

        return walk(self._store, self.id, direction=direction, depth=depth)
