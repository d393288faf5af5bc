#!/usr/bin/env python3
"""Sizes of the libraries' source: the largest non-test file and function of each crate.

    scripts/code-shape.py            print, per library, its largest file and function (in lines)
    scripts/code-shape.py --check    also fail (exit 1) if a file is over 600 lines or a function
                                     over 100, naming each one

Only `src/` of the published libraries counts, without its `#[cfg(test)]` modules: tests may be
as long as the behaviour they pin needs. A function's length runs from its `fn` line to its
closing brace. Rust is read as text (strings, chars and comments are skipped when braces are
matched), which is all these two numbers need; no Rust parser crate is worth a build for it.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ["common", "kinesis-source", "neptune-batch", "workload-gen", "metrics-sink",
             "graph-ingest", "kcl-multilang"]
MAX_FILE = 600
MAX_FN = 100
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def code_only(text):
    """The text with strings, chars and comments blanked (newlines kept), so braces match."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth, j = depth + 1, j + 2
                elif text.startswith("*/", j): depth, j = depth - 1, j + 2
                else: j += 1
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j])); i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 20]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j])); i = j
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:  # a lifetime
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)


def block_end(lines, start):
    """The index of the line closing the block opened on or after `start` (or None for `;`)."""
    depth, opened = 0, False
    for k in range(start, len(lines)):
        for ch in lines[k]:
            if ch == "{":
                depth += 1; opened = True
            elif ch == "}":
                depth -= 1
                if opened and depth == 0:
                    return k
            elif ch == ";" and not opened and depth == 0:
                return None
    return None


def measure(path):
    """(lines outside test modules, [(fn name, first line, length)])."""
    with open(path, encoding="utf-8") as f:
        lines = code_only(f.read()).split("\n")
    test = [False] * len(lines)
    for i, line in enumerate(lines):
        if line.strip().startswith("#[cfg(test)]"):
            k = i + 1
            while k < len(lines) and (not lines[k].strip() or lines[k].strip().startswith("#[")):
                k += 1
            if k < len(lines) and re.match(r"\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", lines[k]):
                end = block_end(lines, k)
                for j in range(i, (end if end is not None else k) + 1):
                    test[j] = True
    fns = []
    for i, line in enumerate(lines):
        if test[i]:
            continue
        m = FN.match(line)
        if m:
            end = block_end(lines, i)
            if end is not None:
                fns.append((m.group(7), i + 1, end - i + 1))
    return sum(1 for t in test if not t), fns


def main():
    check = "--check" in sys.argv[1:]
    bad = []
    print(f"{'library':<16} {'largest file':<44} {'lines':>5}  {'largest function':<44} {'lines':>5}")
    for lib in LIBRARIES:
        src = os.path.join(ROOT, lib, "src")
        if not os.path.isdir(src):
            continue
        files, fns = [], []
        for dirpath, _, names in os.walk(src):
            for name in sorted(names):
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    rel = os.path.relpath(path, ROOT)
                    size, found = measure(path)
                    files.append((size, rel))
                    fns.extend((length, f"{rel}:{first} {fn}") for fn, first, length in found)
                    if size > MAX_FILE:
                        bad.append(f"{rel}: {size} lines (at most {MAX_FILE})")
                    bad.extend(f"{rel}:{first}: fn {fn} is {length} lines (at most {MAX_FN})"
                               for fn, first, length in found if length > MAX_FN)
        big_file = max(files) if files else (0, "-")
        big_fn = max(fns) if fns else (0, "-")
        print(f"{lib:<16} {big_file[1]:<44} {big_file[0]:>5}  {big_fn[1]:<44} {big_fn[0]:>5}")
    if check and bad:
        print("\nover the limits:", *bad, sep="\n  ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
