#!/usr/bin/python3
"""Architecture rules that the build alone does not enforce (style.md): each
foreign dependency has one door, and model, training and measurement code
never prints or exits."""
import os
import re

from util import SOURCE, check, main

DOORS = {"cblas.h": "kernels", "yaml.h": "job", "netcdf.h": "store", "mpi.h": "sched"}
QUIET = ("data", "kernels", "model", "train", "metrics", "task")


def sources():
    for root, _, files in os.walk(os.path.join(SOURCE, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                path = os.path.join(root, f)
                module = os.path.relpath(path, os.path.join(SOURCE, "src")).split(os.sep)[0]
                with open(path) as fh:
                    yield path, module, fh.read()


def test_one_door_per_dependency():
    seen = set()
    for path, module, text in sources():
        for header, door in DOORS.items():
            if re.search(r'#\s*include\s*[<"]' + re.escape(header) + '[>"]', text):
                check(module == door, f"{path} includes {header}; only src/{door} may")
                seen.add(header)
    check(seen == set(DOORS), f"doors not found at all: {set(DOORS) - seen}")
    for h in os.listdir(os.path.join(SOURCE, "include", "polysweep")):
        with open(os.path.join(SOURCE, "include", "polysweep", h)) as fh:
            text = fh.read()
        for header in DOORS:
            check(header not in re.findall(r'#\s*include\s*[<"]([^>"]+)', text),
                  f"public header {h} includes {header}")


def test_numeric_code_never_prints_or_exits():
    pattern = re.compile(r"\b(printf|fprintf|puts|fputs|perror|exit|abort|_exit)\s*\(")
    for path, module, text in sources():
        if module in QUIET:
            code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
            m = pattern.search(code)
            check(m is None, f"{path} calls {m.group(1) if m else ''}(): model/training code never prints or exits")


if __name__ == "__main__":
    main([test_one_door_per_dependency, test_numeric_code_never_prints_or_exits])
