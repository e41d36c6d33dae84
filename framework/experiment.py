"""The Experiment: the ingredient that runs.

::

    from gnomon import Experiment

    ex = Experiment("mnist")

    @ex.config
    def cfg():
        lr = 0.01  # learning rate

    @ex.automain
    def main(lr, _run):
        _run.log_scalar("loss", 1 / lr)

:meth:`Experiment.run` resolves the config, gathers host and source facts (once per
run, never at import), builds the :class:`~gnomon.run.Run`, applies the options and
runs it with a run context that captured functions read, so concurrent runs in
several threads never see each other's config.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gnomon.spelling import did_you_mean

from .captured import CapturedFunction, RunContext, activate, current_context
from .config.resolve import config_path, ingredient_order, resolve_config
from .errors import CommandNotFoundError, ConfigError, GnomonError, HookSignatureError
from .ingredient import Ingredient

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Experiment"]

_LOG_FORMAT = "%(levelname)s - %(name)s - %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time, so output capture sees the lines."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self.setFormatter(logging.Formatter(_LOG_FORMAT))

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(
        self, value: Any
    ) -> None:  # StreamHandler.setStream; the stream is always sys.stderr
        pass


_HANDLER_LOCK = threading.Lock()  # two runs starting at once must add one handler, not two


def _default_root_logger() -> logging.Logger:
    """The root logger, with gnomon's stderr handler added once and level INFO (like Sacred).

    Handlers the user (or a test runner) installed are kept.
    """
    root = logging.getLogger()
    with _HANDLER_LOCK:
        if not any(isinstance(h, _StderrHandler) for h in root.handlers):
            root.addHandler(_StderrHandler())
    root.setLevel(logging.INFO)
    return root


class Experiment(Ingredient):
    """The main ingredient: it has commands, observers and a command line; see the module doc."""

    def __init__(
        self,
        name: str | None = None,
        ingredients: Sequence[Ingredient] = (),
        interactive: bool = False,
        base_dir: str | os.PathLike[str] | None = None,
        additional_host_info: Iterable[Any] | None = None,
        additional_cli_options: Iterable[Any] | None = None,
        save_git_info: bool = True,
    ) -> None:
        caller_globals = sys._getframe(1).f_globals
        if name is None:
            filename = caller_globals.get("__file__")
            if interactive or not isinstance(filename, str) or not filename:
                raise ConfigError(
                    "An experiment defined in an interactive session or without a file "
                    "needs a name: "
                    "Experiment('my_experiment', interactive=True)."
                )
            name = os.path.basename(filename)
            for suffix in (".py", ".pyc"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
        super().__init__(
            path=name,
            ingredients=ingredients,
            interactive=interactive,
            _caller_globals=caller_globals,
            base_dir=base_dir,
            save_git_info=save_git_info,
        )
        self.default_command: str | None = None
        self.observers: list[Any] = []
        self.captured_out_filter: Callable[[str], str] | None = None
        self.option_hooks: list[Callable[..., Any]] = []
        self.additional_host_info = list(additional_host_info or ())
        self.additional_cli_options = list(additional_cli_options or ())
        self.logger: logging.Logger | None = None
        self._last_run: Run | None = None
        from .commands import make_builtin_commands

        for function in make_builtin_commands(self).values():
            self.command(function, unobserved=True)

    @property
    def name(self) -> str:
        """The experiment's name (its path)."""
        return self.path

    def _name_of(self, ingredient: Ingredient, name: str) -> str:
        return name if ingredient is self else super()._name_of(ingredient, name)

    # ---------------------------------------------------------------- decorators
    def main(self, function: Callable[..., Any]) -> CapturedFunction:
        """Decorator: the default command, run by ``ex.run()`` and ``python exp.py``."""
        captured = self.command(function)
        self.default_command = captured.__name__
        return captured  # type: ignore[no-any-return]

    def automain(self, function: Callable[..., Any]) -> CapturedFunction:
        """Like :meth:`main`; also runs the command line when the function's module is ``__main__``.

        So it must come last in the script.
        """
        captured = self.main(function)
        if function.__module__ == "__main__":
            main_file = sys.modules["__main__"].__dict__.get("__file__")
            if not main_file or main_file == "<stdin>":
                raise GnomonError(
                    "@ex.automain cannot run in an interactive session; use @ex.main and ex.run()."
                )
            self.run_commandline()
        return captured

    def option_hook(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: ``function(options)`` sees (and may change) the options before each run."""
        if "options" not in inspect.signature(function).parameters:
            raise HookSignatureError(
                f"Option hook {function.__qualname__!r} must take a parameter named 'options'."
            )
        self.option_hooks.append(function)
        return function

    # ------------------------------------------------------------- the run
    @property
    def current_run(self) -> Run | None:
        """The run of this experiment in progress here, else the latest one, finished or not.

        As in Sacred, the last run stays readable after ``ex.run()`` returns
        (``ex.current_run.result``, ``.info``, ``.host_info``); it is None before the
        first run. Captured functions called after the run get no config from it.
        """
        context = current_context(self)
        if context is not None:
            return context.run  # type: ignore[no-any-return]
        return self._last_run

    def _active_run(self, what: str) -> Run:
        context = current_context(self)
        run: Run | None = context.run if context is not None else None
        if run is None:
            raise GnomonError(
                f"ex.{what}() needs a running experiment, and none is running. "
                "Call it inside the main function or a captured function (or use _run there)."
            )
        return run

    def log_scalar(self, name: str, value: Any, step: Any = None) -> None:
        """Log a metric point to the current run."""
        self._active_run("log_scalar").log_scalar(name, value, step)

    def add_artifact(
        self,
        filename: str | os.PathLike[str],
        name: str | None = None,
        metadata: Any = None,
        content_type: str | None = None,
    ) -> None:
        """Store a file with the current run."""
        self._active_run("add_artifact").add_artifact(filename, name, metadata, content_type)

    def add_resource(self, filename: str | os.PathLike[str]) -> None:
        """Record a file the current run read."""
        self._active_run("add_resource").add_resource(filename)

    def open_resource(self, filename: str | os.PathLike[str], mode: str = "r") -> Any:
        """Open a file and record it as a resource of the current run."""
        return self._active_run("open_resource").open_resource(filename, mode)

    @property
    def info(self) -> dict[str, Any]:
        """The current run's ``info`` dict (stored with the run); after a run, the last run's."""
        run = self.current_run
        if run is None:
            return self._active_run("info").info  # raises: no run yet
        return run.info

    def get_default_options(self) -> dict[str, Any]:
        """Every option with its default value, keyed by long flag."""
        from .cli.options import normalize_options

        return normalize_options(None, self)

    def get_usage(self, program_name: str = "experiment") -> str:
        """The ``--help`` text of this experiment's command line."""
        from .cli.script import build_command

        return build_command(self, program_name).help_text()

    def run_commandline(self, argv: Sequence[str] | str | None = None) -> Run | None:
        """Run as the command line (``sys.argv`` by default) asks; see :mod:`gnomon.cli.script`."""
        from .cli.script import run_commandline

        return run_commandline(self, argv)

    def _loggers(self) -> tuple[logging.Logger, logging.Logger]:
        root = self.logger if self.logger is not None else _default_root_logger()
        return root, root.getChild(self.path)

    def _command(self, command_name: str | None) -> CapturedFunction:
        name = command_name or self.default_command
        commands = dict(self.gather_commands())
        if name is None:
            raise CommandNotFoundError(
                f"No command given and experiment {self.path!r} has no main function; "
                "define one with "
                f"@ex.main or name a command ({', '.join(commands)}).",
                print_usage=True,
            )
        if name not in commands:
            hint = did_you_mean(name, list(commands))
            raise CommandNotFoundError(
                f"Unknown command {name!r}.{hint} Commands: {', '.join(commands)}", print_usage=True
            )
        return commands[name]

    def run(
        self,
        command_name: str | None = None,
        config_updates: Mapping[str, Any] | None = None,
        named_configs: Sequence[str] = (),
        info: Mapping[str, Any] | None = None,
        meta_info: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Run:
        """Run a command (the main function by default) once and return the finished Run.

        ``config_updates`` (dotted keys allowed) win over ``named_configs`` (later ones
        win over earlier ones), which win over the config scopes. ``options`` are the
        command-line flags by long name, e.g. ``{"--force": True, "--beat-interval": 1}``.
        """
        from .cli.options import apply_options, normalize_options
        from .commands import show_config
        from .host import begin_host_facts, get_host_info
        from .provenance import begin_git_facts, get_main_file
        from .randomness import set_global_seed
        from .redaction import scrub_secrets
        from .run import Run
        from .serialize import MAX_DEPTH, depth_problem
        from .settings import SETTINGS

        # What waits on git and on child processes starts now, beside the config's resolution.
        begin_host_facts()
        if self.save_git_info:
            begin_git_facts(get_main_file(self._caller_globals))
        options = normalize_options(options, self)
        for hook in self.option_hooks:
            hook(options=options)
        function = self._command(command_name)
        name = command_name or str(self.default_command)
        root_logger, run_logger = self._loggers()
        try:
            config, summary = resolve_config(
                self,
                command_name=name,
                config_updates=config_updates,
                named_configs=list(named_configs),
                logger=run_logger,
                force=bool(options.get("--force")),
            )
        except RecursionError:
            raise ConfigError(
                f"The config is nested too deeply to resolve: gnomon keeps at most {MAX_DEPTH} levels "
                "of dicts and lists. Flatten it, e.g. with dotted names ('a.b.c') or a list of pairs."
            ) from None
        too_deep = depth_problem(config, where="config")
        if too_deep is not None:
            raise ConfigError(too_deep)
        order = ingredient_order(self)
        context = RunContext(
            config=config,
            paths={id(i): config_path(i, self) for i in order},
            root_logger=root_logger,
            read_only=bool(SETTINGS.CONFIG.READ_ONLY_CONFIG),
        )
        meta = {
            "command": name,
            # Passwords in database URLs (-s, -m, -O) are needed to connect, never stored.
            "options": scrub_secrets(dict(options)),
            "named_configs": list(named_configs),
            "config_updates": dict(config_updates or {}),
            **dict(meta_info or {}),
        }
        run = Run(
            config=config,
            main_function=function,
            command=name,
            experiment_info=self.get_experiment_info(),
            host_info=get_host_info(self.additional_host_info),
            meta_info=meta,
            observers=[] if function.unobserved else list(self.observers),
            pre_run_hooks=[h for i in order for h in i.pre_run_hooks],
            post_run_hooks=[h for i in order for h in i.post_run_hooks],
            root_logger=root_logger,
            run_logger=run_logger,
            captured_out_filter=self.captured_out_filter,
            config_modifications=summary,
        )
        run.info.update(info or {})
        apply_options(run, options, self)
        if function.unobserved:
            run.unobserved = True
        context.run = run
        self._last_run = run
        if options.get("--print-config"):
            show_config(config, summary)
        set_global_seed(config["seed"])
        with activate(context, order):
            run()
        return run
