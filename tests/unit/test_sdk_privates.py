"""The Singer SDK's private names are used in one module only: `tap_branch/output/sdk_internals.py`.

An SDK upgrade that changes one of its internals then breaks that module and its contract tests
(tests/unit/output/), not a stream. This scans the source (AST) of the tap, the sandbox, the
tests, the benchmarks and the scripts for four kinds of use:
- an import from a `singer_sdk` module with a private segment (`singer_sdk.helpers._typing`);
- an import of a private name from `singer_sdk` (`from singer_sdk.plugin_base import _X`);
- a method of a class deriving from an SDK class (or mixed into one) that overrides a private SDK
  method (`_validate_config`), the names computed from the installed SDK's classes;
- a read or write of an attribute named like a private SDK attribute (`tap._config`), other than
  `self.x` / `cls.x` in a class of our own that derives from no SDK class (its own `_helpers`).
"""

from __future__ import annotations

import ast
import collections
import functools
import importlib
import inspect
import pkgutil
import textwrap
import typing as t
import warnings
from pathlib import Path

import singer_sdk

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["tap_branch", "tap_branch_sandbox", "tests", "benchmarks", "scripts"]
SHIM = ROOT / "tap_branch" / "output" / "sdk_internals.py"
#: Tests that may name SDK privates: those pinning the shim's contract with the SDK.
#: (None does today: they read the SDK's source instead.)
ALLOWED: set[str] = set()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@functools.cache
def _sdk_classes() -> tuple[type, ...]:
    classes: dict[str, type] = {}
    for module_info in pkgutil.walk_packages(singer_sdk.__path__, "singer_sdk."):
        try:
            with warnings.catch_warnings():  # deprecated aliases (singer_sdk.streams.sql)
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_info.name)
        except Exception:  # noqa: BLE001,S112 - an optional extra not installed: not ours to use
            continue
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__.startswith("singer_sdk"):
                classes[f"{value.__module__}.{value.__qualname__}"] = value
    return tuple(classes.values())


#: Private by their spelling, public by their documentation: namedtuple's `_replace` and kin.
_PUBLIC = frozenset(name for name in dir(collections.namedtuple("T", "a")) if name.startswith("_"))


def _counted(name: str) -> bool:
    """A private SDK name: `_x`, not a dunder, not a sunder (`_missing_`), not namedtuple's."""
    return _private(name) and not name.endswith("_") and name not in _PUBLIC


@functools.cache
def _names_of(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """(private methods, private attributes) an SDK class defines: what its body defines, and
    what its methods set on `self` or `cls`."""
    methods: set[str] = set()
    attributes: set[str] = set()
    for name, value in vars(cls).items():
        if _counted(name):
            attributes.add(name)
            descriptor = isinstance(value, (classmethod, staticmethod, property))
            if callable(value) or descriptor or type(value).__name__ == "classproperty":
                methods.add(name)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # made at run time: its body is all there is
        tree = ast.Module(body=[], type_ignores=[])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in {"self", "cls"}
            and _counted(node.attr)
        ):
            attributes.add(node.attr)
    return frozenset(methods), frozenset(attributes)


def _sdk_names_in(classes: t.Iterable[type]) -> tuple[frozenset[str], frozenset[str]]:
    """The private SDK names of the SDK classes among `classes` and their bases."""
    methods: set[str] = set()
    attributes: set[str] = set()
    for sdk_class in {base for cls in classes for base in cls.__mro__ if _is_sdk(base)}:
        cls_methods, cls_attributes = _names_of(sdk_class)
        methods |= cls_methods
        attributes |= cls_attributes
    return frozenset(methods), frozenset(attributes)


@functools.cache
def _sdk_private_names() -> tuple[frozenset[str], frozenset[str]]:
    """(private methods, private attributes) of every class of the installed SDK."""
    return _sdk_names_in(_sdk_classes())


def _is_sdk(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "singer_sdk"


def _is_sdk_derived(cls: type) -> bool:
    return any(_is_sdk(base) for base in cls.__mro__)


def _ours(cls: type) -> bool:
    """A class of this project (not of the shim)."""
    path = getattr(inspect.getmodule(cls), "__file__", None)
    if path is None:
        return False
    path = Path(path).resolve()
    return path != SHIM and path.is_relative_to(ROOT) and ".venv" not in path.parts


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        files.extend(path for path in (ROOT / top).rglob("*.py") if path != SHIM)
    return sorted(files)


def _module_name(path: Path) -> str:
    if not path.is_relative_to(ROOT):
        return path.stem
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolved(name: str) -> object | None:
    """The object a dotted name imported by a module stands for, or None."""
    module_name, _, attribute = name.rpartition(".")
    for split in (name, module_name):
        try:
            module = importlib.import_module(split)
        except Exception:  # noqa: BLE001 - not a module: try the attribute of its parent
            continue
        return module if split == name else getattr(module, attribute, None)
    return None


class _Scan(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.module = _module_name(path)
        self.imports: dict[str, str] = {}  # local name -> dotted name
        self.found: list[str] = []
        #: The enclosing classes: the private SDK names of their SDK bases, None for our own.
        self.classes: list[tuple[frozenset[str], frozenset[str]] | None] = []
        #: Classes of this module (top level): their node, and as `self.classes`.
        self.local: dict[
            str, tuple[ast.ClassDef, tuple[frozenset[str], frozenset[str]] | None]
        ] = {}
        self.methods, self.attributes = _sdk_private_names()

    def report(self, node: ast.AST, what: str) -> None:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        self.found.append(f"{where}:{node.lineno}: {what}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            self.check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:  # relative: our own modules
            return
        module = node.module or ""
        self.check_module(node, module)
        for alias in node.names:
            self.imports[alias.asname or alias.name] = f"{module}.{alias.name}"
            if module.split(".")[0] == "singer_sdk" and _private(alias.name):
                self.report(node, f"imports {alias.name} from {module}")

    def check_module(self, node: ast.AST, module: str) -> None:
        parts = module.split(".")
        if parts[0] == "singer_sdk" and any(_private(part) for part in parts):
            self.report(node, f"imports from the private module {module}")

    def dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, f"{self.module}.{node.id}")
        if isinstance(node, ast.Attribute):
            head = self.dotted(node.value)
            return head and f"{head}.{node.attr}"
        if isinstance(node, ast.Subscript):  # Generic[T] and the like
            return self.dotted(node.value)
        return None

    def sdk_names_of(self, node: ast.ClassDef) -> tuple[frozenset[str], frozenset[str]] | None:
        """The private SDK names a class inherits, None when it derives from no SDK class; our
        own bases that derive from none (mixins) must override none of them either."""
        runtime: list[type] = []
        inherited: list[tuple[frozenset[str], frozenset[str]]] = []
        mixins: list[ast.ClassDef | type] = []
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in self.local:
                local_node, names = self.local[base.id]
                if names is None:
                    mixins.append(local_node)
                else:
                    inherited.append(names)
                continue
            name = self.dotted(base)
            value = _resolved(name) if name else None
            if not inspect.isclass(value):
                continue
            if _is_sdk_derived(value):
                runtime.append(value)
            mixins.extend(cls for cls in value.__mro__ if _ours(cls) and not _is_sdk_derived(cls))
        if not runtime and not inherited:
            return None
        methods, attributes = _sdk_names_in(runtime)
        for more_methods, more_attributes in inherited:
            methods |= more_methods
            attributes |= more_attributes
        for mixin in mixins:
            defined = (
                [item.name for item in mixin.body if isinstance(item, _FUNCTIONS)]
                if isinstance(mixin, ast.ClassDef)
                else list(vars(mixin))
            )
            for name in sorted(set(defined) & methods):
                self.report(
                    node,
                    f"{node.name} takes {mixin.__name__ if isinstance(mixin, type) else mixin.name}.{name}, which overrides the SDK's",
                )
        return methods, attributes

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        names = self.sdk_names_of(node)
        if not self.classes:
            self.local[node.name] = (node, names)
        if names is not None:
            for item in node.body:
                if isinstance(item, _FUNCTIONS) and item.name in names[0]:
                    self.report(item, f"{node.name} overrides the SDK's {item.name}")
        self.classes.append(names)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        on_self = isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
        if on_self and self.classes:
            names = self.classes[-1]
            sdk = names is not None and node.attr in names[1]  # our own class's: not the SDK's
        else:
            sdk = node.attr in self.attributes
        if sdk:
            self.report(node, f"uses the SDK's private attribute {node.attr}")
        self.generic_visit(node)


def _uses(path: Path) -> list[str]:
    scan = _Scan(path)
    scan.visit(ast.parse(path.read_text()))
    return scan.found


def test_the_sdk_private_name_sets_are_found():
    methods, attributes = _sdk_private_names()
    # What the shim overrides, and reads, today: if the scan lost them, it would pass on anything.
    assert {"_validate_config", "_env_var_config", "_write_record_message"} <= methods
    assert {"_config", "_tap", "_state_manager", "_stream_version"} <= attributes


def test_no_module_but_the_shim_uses_the_sdks_private_names():
    found = [
        use
        for path in _scanned_files()
        if str(path.relative_to(ROOT)) not in ALLOWED
        for use in _uses(path)
    ]
    assert found == [], "SDK private names belong in tap_branch/output/sdk_internals.py"


def test_the_scan_finds_each_kind_of_use(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from singer_sdk import Tap\n"
        "from singer_sdk.helpers._classproperty import classproperty\n"
        "from singer_sdk.plugin_base import _ConfigInput\n"
        "class Mine(Tap):\n"
        "    def _validate_config(self): ...\n"
        "    def _helper(self): ...\n"
        "class Own:\n"
        "    def _validate_config(self): return self._config\n"
        "def read(tap): return tap._config\n"
    )
    found = [line.split(": ", 1)[1] for line in _uses(sample)]
    assert found == [
        "imports from the private module singer_sdk.helpers._classproperty",
        "imports _ConfigInput from singer_sdk.plugin_base",
        "Mine overrides the SDK's _validate_config",
        "uses the SDK's private attribute _config",
    ]
