"""The shape of the production code, checked so that it stays true.

No function over 60 lines (a longer one is split into named helpers by responsibility), and no
`assert` statement: Python drops asserts under `-O`, so a check that matters is an explicit
`if ...: raise` of the right error, and a type is narrowed by the code's structure. Production
code is every `.py` file outside tests/, bench/, migrations and the tool directories.
"""

import ast

from tests.helpers.source import parsed

MAX_FUNCTION_LINES = 60


def test_the_walk_sees_the_production_code() -> None:
    names = {name for name, _ in parsed()}
    assert {"shared/app.py", "api_gateway/routes.py", "ticket_service/service.py"} <= names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)
    assert not any("/migrations/" in name for name in names)


def test_no_function_over_60_lines() -> None:
    too_long = [
        f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in parsed()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not too_long, (
        f"functions over {MAX_FUNCTION_LINES} lines (split them into named helpers):\n"
        + "\n".join(too_long)
    )


def test_no_assert_in_production_code() -> None:
    asserts = [
        f"{name}:{node.lineno}"
        for name, tree in parsed()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
    ]
    assert not asserts, (
        "assert statements in production code (raise an error of the right kind, or "
        "restructure so the type is known):\n" + "\n".join(asserts)
    )
