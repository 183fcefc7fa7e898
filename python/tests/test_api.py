"""The package's surface: every exported name is in the type stubs with the same
parameters, has a docstring, and is covered by a test module."""

import ast
import inspect
from pathlib import Path

import effective_state_size as ess

PKG = Path(ess.__file__).resolve().parent
SOURCE_PKG = Path(__file__).resolve().parents[1] / "python" / "effective_state_size"
TESTS = Path(__file__).resolve().parent


def stub():
    path = SOURCE_PKG / "_native.pyi"
    if not path.exists():
        path = PKG / "_native.pyi"
    return ast.parse(path.read_text())


def stub_functions():
    return {n.name: n for n in stub().body if isinstance(n, ast.FunctionDef)}


def stub_names():
    names = set()
    for n in stub().body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.AnnAssign):
            names.add(n.target.id)
        elif isinstance(n, ast.Assign):
            names.update(t.id for t in n.targets)
    return names


def test_every_export_is_in_the_stubs():
    missing = set(ess.__all__) - stub_names()
    assert not missing, f"not in _native.pyi: {sorted(missing)}"


def test_stub_signatures_match_the_extension():
    for name, node in stub_functions().items():
        fn = getattr(ess, name)
        params = list(inspect.signature(fn).parameters.values())
        args = node.args
        positional = [a.arg for a in args.posonlyargs + args.args]
        keyword = [a.arg for a in args.kwonlyargs]
        assert [p.name for p in params if p.kind != p.KEYWORD_ONLY] == positional, name
        assert [p.name for p in params if p.kind == p.KEYWORD_ONLY] == keyword, name


def test_docstrings_and_the_typed_marker():
    for name in ess.__all__:
        obj = getattr(ess, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 20, name
    assert (PKG / "py.typed").exists()


def test_every_function_is_exercised_by_a_test():
    text = "\n".join(p.read_text() for p in TESTS.glob("test_*.py") if p.name != "test_api.py")
    functions = [n for n in ess.__all__ if callable(getattr(ess, n)) and not isinstance(getattr(ess, n), type)]
    untested = [n for n in functions if f"ess.{n}(" not in text]
    assert not untested, untested
