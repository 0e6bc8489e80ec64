#!/usr/bin/env python3
"""The one build step of the emulated-GPU build (tests/emu/README.md): rewrites a CUDA C++ file
(.cu or .cuh) into plain C++ that the CPU execution layer (tests/emu/include, tests/emu/src) runs.

    translate.py IN OUT

Only three constructs of the kernel language cannot be expressed with macros and are rewritten:
  * launches      K<<<grid, block[, smem[, stream]]>>>(args)
                  -> ::lkemu::launch("K", __FILE__, __LINE__, ::lkemu::LaunchCfg(grid, ...),
                                     [](auto&... a) { K(a...); }, args)
  * attributes    cudaFuncSetAttribute(K, ...) -> ::lkemu::set_func_attribute("K", ...): kernels are
                  identified by the name spelled at the launch.
  * shared memory __shared__ T name[dims];      -> auto& name = ::lkemu::shared_var<T[dims]>(&key);
                  extern __shared__ T name[];   -> T* const name = ::lkemu::dynamic_shared<T>();
  * launch bounds __launch_bounds__(N[, M]) before a kernel's name is removed, and the kernel body
                  starts with LKEMU_LAUNCH_BOUNDS(N), which checks blockDim against N at run time.
Everything else (threadIdx, __syncthreads, __shfl_*_sync, atomics, intrinsics, the runtime API)
is C++ in tests/emu/include. Line numbers are kept (a #line directive plus the same count of
newlines in every rewrite), so compiler diagnostics, __LINE__ and sanitizer reports name the
original file and line. Tested by building the emulated tree (every kernel goes through it) and by
tests/emu/test_emu_layer.cu.
"""
import re
import sys

IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def fail(path, text, pos, msg):
    line = text.count("\n", 0, pos) + 1
    sys.exit(f"{path}:{line}: emu translate: {msg}")


def match_forward(text, pos, open_ch, close_ch):
    """text[pos] == open_ch; returns the index just past the matching close_ch."""
    depth = 0
    i = pos
    while i < len(text):
        c = text[i]
        if c in "\"'":  # skip string and character literals
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def split_top_level(s):
    """Splits s at commas outside (), [], {}."""
    parts, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def kernel_name_start(text, end):
    """Start of the kernel expression (qualified name, optional template arguments) ending at end."""
    i = end
    while i > 0 and text[i - 1].isspace():
        i -= 1
    if i > 0 and text[i - 1] == ">":  # template arguments: match the angle brackets backwards
        depth = 0
        while i > 0:
            i -= 1
            if text[i] == ">":
                depth += 1
            elif text[i] == "<":
                depth -= 1
                if depth == 0:
                    break
        while i > 0 and text[i - 1].isspace():
            i -= 1
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_:"):
        i -= 1
    return i


def newlines(s):
    return "\n" * s.count("\n")


def blank(text):
    """A copy of text of the same length with comments and the insides of string and character
    literals replaced by spaces (newlines kept), so that searches see code only."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if text[k] != "\n":
                    out[k] = " "
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def rewrite_launches(path, text):
    scan = blank(text)
    out, pos = [], 0
    while True:
        start = scan.find("<<<", pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        name_begin = kernel_name_start(scan, start)
        name = scan[name_begin:start].strip()
        if not name:
            fail(path, text, start, "cannot find the kernel name before <<<")
        cfg_end = scan.find(">>>", start)
        if cfg_end < 0:
            fail(path, text, start, "<<< without >>>")
        cfg = scan[start + 3:cfg_end]
        j = cfg_end + 3
        while j < len(scan) and scan[j].isspace():
            j += 1
        if j >= len(scan) or scan[j] != "(":
            fail(path, text, start, "expected '(' after >>>")
        args_end = match_forward(scan, j, "(", ")")
        if args_end < 0:
            fail(path, text, j, "unbalanced kernel arguments")
        args = text[j + 1:args_end - 1]
        n_cfg = len(split_top_level(cfg))
        if not 2 <= n_cfg <= 4:
            fail(path, text, start, f"launch configuration needs 2 to 4 values, got {n_cfg}")
        # The kernel is called through a generic lambda, so that template arguments are deduced
        # from the launch's arguments as nvcc does (a function pointer could not be formed).
        call = (f"::lkemu::launch(\"{' '.join(name.split())}\", __FILE__, __LINE__, "
                f"::lkemu::LaunchCfg({cfg}), [](auto&... lkemu_a) {{ {name}(lkemu_a...); }}")
        if args.strip():
            call += ", " + args
        call += ")"
        # Keep the line count: the newlines of the name and configuration go after the call.
        out.append(text[pos:name_begin])
        out.append(call.replace("\n", " ") + "\n" * (text[name_begin:args_end].count("\n")))
        pos = args_end


SHARED = re.compile(r"(\bextern\s+)?\b__shared__\b")


def rewrite_shared(path, text):
    scan = blank(text)
    out, pos, counter = [], 0, 0
    for m in SHARED.finditer(scan):
        if m.start() < pos:
            continue
        semi = scan.find(";", m.end())
        if semi < 0:
            fail(path, text, m.start(), "__shared__ declaration without ';'")
        decl = " ".join(scan[m.end():semi].split())
        decl = re.sub(r"__align__\s*\(\s*(\w+)\s*\)", "", decl).strip()
        bracket = decl.find("[")
        head, dims = (decl, "") if bracket < 0 else (decl[:bracket].rstrip(), decl[bracket:])
        names = list(IDENT.finditer(head))
        if not names or "=" in decl or "," in head:
            fail(path, text, m.start(), f"unsupported __shared__ declaration '{decl}'")
        name = names[-1].group(0)
        type_ = head[:names[-1].start()].strip()
        if m.group(1):  # extern __shared__ T name[];
            if dims.replace(" ", "") != "[]":
                fail(path, text, m.start(), "extern __shared__ must be an unsized array")
            repl = f"{type_}* const {name} = ::lkemu::dynamic_shared<{type_}>();"
        else:
            counter += 1
            key = f"lkemu_shared_key_{counter}_"
            repl = (f"static constexpr char {key} = 0; "
                    f"auto& {name} = ::lkemu::shared_var<{type_}{dims}>(&{key});")
        out.append(text[pos:m.start()])
        out.append(repl + newlines(text[m.start():semi + 1]))
        pos = semi + 1
    out.append(text[pos:])
    return "".join(out)


BOUNDS = re.compile(r"\b__launch_bounds__\s*\(")


def rewrite_launch_bounds(path, text):
    scan = blank(text)
    out, pos = [], 0
    for m in BOUNDS.finditer(scan):
        if m.start() < pos:
            continue
        end = match_forward(scan, m.end() - 1, "(", ")")
        args = split_top_level(scan[m.end():end - 1])
        # The kernel body: the first '{' after the parameter list at parenthesis depth 0, unless a
        # ';' comes first (a declaration).
        i, depth, body = end, 0, -1
        while i < len(scan):
            c = scan[i]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif depth == 0 and c == ";":
                break
            elif depth == 0 and c == "{":
                body = i
                break
            i += 1
        out.append(text[pos:m.start()])
        out.append(newlines(text[m.start():end]))
        if body >= 0:
            out.append(text[end:body + 1])
            out.append(f" LKEMU_LAUNCH_BOUNDS({args[0].strip()});")
            pos = body + 1
        else:
            pos = end
    out.append(text[pos:])
    return "".join(out)


ATTR = re.compile(r"\bcudaFuncSetAttribute\s*\(\s*([A-Za-z_][A-Za-z_0-9:<>, ]*?)\s*,")


def rewrite_func_attributes(text):
    scan = blank(text)
    out, pos = [], 0
    for m in ATTR.finditer(scan):
        out.append(text[pos:m.start()])
        out.append(f"::lkemu::set_func_attribute(\"{' '.join(m.group(1).split())}\",")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def translate(path, text):
    text = rewrite_func_attributes(text)
    text = rewrite_launch_bounds(path, text)
    text = rewrite_shared(path, text)
    text = rewrite_launches(path, text)
    prelude = '#include "lkemu/kernel.h"\n'
    if "thrust::" in text:
        prelude += '#include "lkemu/thrust.h"\n'
    return prelude + f'#line 1 "{path}"\n' + text


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: translate.py IN OUT")
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    result = translate(src, text)
    try:
        with open(dst, encoding="utf-8") as f:
            if f.read() == result:
                return  # unchanged: keep the timestamp, nothing downstream rebuilds
    except OSError:
        pass
    with open(dst, "w", encoding="utf-8") as f:
        f.write(result)


if __name__ == "__main__":
    main()
