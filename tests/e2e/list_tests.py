"""Prints Class.test_method for every test in a unittest file, one per line, for CTest."""
# SPDX-License-Identifier: Apache-2.0

import ast
import sys

tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
for node in tree.body:
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name.startswith("test_"):
                print("%s.%s" % (node.name, item.name))
