"""The contract of the tap's side of `tap_branch.output.sdk_internals` with the SDK's privates:
when an SDK upgrade renames or changes one of them, these fail, not a run."""

from __future__ import annotations

import ast
import inspect
import textwrap
import typing as t

import pytest
from singer_sdk import Tap
from singer_sdk.plugin_base import PluginBase

from tap_branch.output import sdk_internals
from tap_branch.output.sdk_internals import (
    EnvironmentSettings,
    SyncHooks,
    ValidatedSettings,
    config_input,
    invoke_with,
)
from tap_branch.tap import TapBranch


def _calls(function: t.Callable) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return sorted({ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)})


def test_the_sdks_invoke_still_does_what_invoke_with_repeats():
    """`invoke_with` is the SDK's `Tap.invoke` with the files read by the tap: it repeats the
    SDK's other steps. If an SDK upgrade adds or drops a step, this fails: recheck it."""
    assert _calls(Tap.invoke) == [
        "_ConfigInput",
        "catalog.read",
        "cls",
        "cls.print_version",
        "load_json",
        "state.read",
        "super",
        "super().invoke",
        "tap.sync_all",
    ], "the SDK's Tap.invoke changed: bring sdk_internals.invoke_with in step with it"
    ours = set(_calls(invoke_with))
    assert {"_ConfigInput", "tap_class", "tap_class.print_version", "tap.sync_all"} <= ours
    assert "invoke_with" in _calls(TapBranch.invoke)


def test_the_sdk_methods_the_mixins_replace_are_still_there():
    """Each mixin overrides a private SDK method by name: the SDK must still call it so."""
    init = inspect.getsource(PluginBase.__init__)
    assert "self._env_var_config" in init
    assert "self._validate_config(raise_errors=validate_config)" in init
    assert "self._config = config_dict" in init
    assert isinstance(
        inspect.getattr_static(PluginBase, "_env_var_prefix"),
        type(inspect.getattr_static(EnvironmentSettings, "_env_var_config")),
    )
    assert "sync_all" in vars(Tap)  # final there: the mixin wraps it from before `Tap`


def test_the_tap_takes_the_mixins_before_the_sdks_tap():
    mro = TapBranch.__mro__
    assert mro.index(SyncHooks) < mro.index(Tap)
    assert mro.index(ValidatedSettings) < mro.index(Tap)
    assert mro.index(EnvironmentSettings) < mro.index(Tap)


def test_the_config_input_is_what_the_sdks_invoke_reads():
    given = config_input({"start_date": "2024-01-01"}, parse_env=True)
    assert isinstance(given, sdk_internals.ConfigInput)
    assert (given.config, given.parse_env) == ({"start_date": "2024-01-01"}, True)
    assert (config_input().config, config_input().parse_env) == (None, False)


class _Sync:
    def __init__(self, fails: bool) -> None:
        self.fails, self.calls = fails, []

    def sync_all(self) -> None:
        self.calls.append("sync")
        if self.fails:
            raise RuntimeError("sync failed")


class _Hooked(SyncHooks, _Sync):
    def before_sync(self) -> None:
        self.calls.append("before")

    def after_sync(self, *, completed: bool) -> None:
        self.calls.append(("after", completed))


def test_the_sync_hooks_run_around_the_sync_and_after_it_fails_too():
    ok = _Hooked(fails=False)
    ok.sync_all()
    assert ok.calls == ["before", "sync", ("after", True)]
    failing = _Hooked(fails=True)
    with pytest.raises(RuntimeError, match="sync failed"):
        failing.sync_all()
    assert failing.calls == ["before", "sync", ("after", False)]
