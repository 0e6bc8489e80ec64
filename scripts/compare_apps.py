#!/usr/bin/env python3
"""Compares the output directories of two builds' app runs file by file (scripts/compare_apps.sh).

    compare_apps.py OLD_DIR NEW_DIR CASE...

For each CASE, every file under OLD_DIR/CASE and NEW_DIR/CASE (recursively; the logs of the runs
are not outputs) is compared and one line is printed: `CASE/FILE: same`, `CASE/FILE: DIFFERENT
(first difference)` or `CASE/FILE: DIFFERENT (only in old|new)`. Exit status 1 on any difference.

Schema moves (issue 12): a summary.json of schema 1 (latentkit/io/summary.h: config, timings_s,
results, outputs) on the new side only is mapped back onto the old layout before it is compared:
onto the old summary.json (vae_gmm: `stages.X` <- `results.X`, `final`/`train` <- `results.train`;
rbm_mnist: `epochs`, `pseudo_likelihood`, ... <- `results.train`, `inpainting` <- `results.inpainting`)
or onto the old result.json that gmm_fit, kmeans, mmd and tsne wrote instead (results.<app> with
the run's entries beside it). A mapped file that then compares equal prints
`CASE/FILE: SCHEMA (...; same)`; one that does not prints DIFFERENT. Figures and files must still be
identical: a schema line is no difference.

What counts as equal:
  * *.json: equal after dropping wall-time fields (keys `seconds`, `timings_s`, and any key ending
    in `_s` or `_seconds`, e.g. fit_seconds, samples_per_s, with their whole subtrees); every
    other value must be equal exactly (floats included: the JSON writer prints round-trip digits).
  * *.csv: the bytes, except that a column headed `seconds` (loss.csv, metrics.csv) is dropped.
  * *.lkm (model and checkpoint files: 8-byte magic, uint64 header length, JSON header, float32
    sections, FNV-1a trailer): the magic, the header JSON as above (a checkpoint's history carries
    per-epoch seconds) and the section bytes, exactly. The trailer hashes the header, so it is not
    compared.
  * everything else (PNGs, ...): the bytes.
"""
import json
import os
import struct
import sys


def is_time_key(key):
    return key in ("seconds", "timings_s") or key.endswith("_s") or key.endswith("_seconds")


def drop_times(value):
    if isinstance(value, dict):
        return {k: drop_times(v) for k, v in value.items() if not is_time_key(k)}
    if isinstance(value, list):
        return [drop_times(v) for v in value]
    return value


def first_json_difference(a, b, path=""):
    """The path of the first difference between two JSON values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k} only in {'new' if k not in a else 'old'}"
            d = first_json_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} elements"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_json_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    # bool is an int in Python: compare types too, so that true != 1.
    if type(a) is not type(b) or a != b:
        return f"{path or '(root)'}: {json.dumps(a)[:60]} vs {json.dumps(b)[:60]}"
    return None


def compare_json(pa, pb):
    with open(pa) as fa, open(pb) as fb:
        a, b = json.load(fa), json.load(fb)
    return first_json_difference(drop_times(a), drop_times(b))


# ---- schema 1 (summary.json of every app) mapped onto the layouts before it --------------------

def is_skipped(r):
    return isinstance(r, dict) and r.get("skipped") is True


def old_vae_gmm_stages(results, outputs):
    """results.* of schema 1 as the old summary.json's `stages` (absent when switched off or
    without samples, the old skip texts, the tsne stage's file list inside it)."""
    stages = {}
    for name in ("kmeans", "mmd"):
        r = results.get(name)
        if r is None:
            continue
        if is_skipped(r):
            reason = r["reason"]
            if reason.startswith("switched off by") or reason.startswith("no generated samples"):
                continue  # the old layout left the stage out
            stages[name] = {"skipped": "skipped: " + reason.split(" (--kmeans-k-min")[0]}
        else:
            stages[name] = r
    if "gmm_bic" in results:
        r = results["gmm_bic"]
        if is_skipped(r) and r["reason"].startswith("switched off by"):
            r = {"skipped": True, "reason": "switched off by --no-gmm or --gmm-k-max 0"}
        stages["gmm_bic"] = r
    if "mode_coverage" in results:
        r = results["mode_coverage"]
        if is_skipped(r) and r["reason"] == "switched off by --gmm-k-max 0":
            r = {"skipped": True, "reason": "switched off by --no-gmm"}
        stages["mode_coverage"] = r
    if "tsne" in results:
        r = results["tsne"]
        if is_skipped(r):
            stages["tsne"] = {"skipped": "--tsne-iterations 0"}
        else:
            t = {}
            for k, v in r.items():
                if is_skipped(v):
                    if v["reason"].startswith("no generated samples"):
                        continue
                    v = {"skipped": "fewer points than --tsne-perplexity + 1"}
                t[k] = v
            t["outputs"] = [f for f in outputs if f.startswith("tsne_")]
            stages["tsne"] = t
    return stages


def schema1_as_old(new, old_name):
    """A schema-1 summary.json in the layout an older build wrote to `old_name` (summary.json or
    result.json), or None when there is no such mapping."""
    app, config = new.get("app"), new.get("config", {})
    results, outputs = new.get("results", {}), new.get("outputs", [])
    head = {"app": app, "device": new.get("device")}
    if old_name == "summary.json":
        head.update({"versions": new.get("versions"), "seed": new.get("seed"), "config": config,
                     "timings_s": new.get("timings_s"), "outputs": outputs})
        if app == "vae_gmm":
            train = results.get("train", {})
            if not is_skipped(train):
                head["final"] = train["final"]
                head["train"] = {"steps": train["steps"]}
            head["stages"] = old_vae_gmm_stages(results, outputs)
            return head
        if app == "rbm_mnist":
            train = results.get("train", {})
            for k in ("epochs", "pseudo_likelihood", "reconstruction_error"):
                head[k] = train.get(k)
            head["inpainting"] = results.get("inpainting")
            return head
        return None
    if old_name != "result.json" or app not in ("gmm_fit", "kmeans", "mmd", "tsne"):
        return None
    out = dict(results.get("gmm" if app == "gmm_fit" else app, {}))
    out.update(head)
    if app == "gmm_fit":
        out["config"] = config
    elif app == "kmeans":
        out.update({"input": config.get("input"), "n": config.get("n"), "d": config.get("d"),
                    "config": {k: v for k, v in config.items() if k not in ("input", "n", "d")},
                    "labels_file": "labels.csv" if "labels.csv" in outputs else None})
    elif app == "mmd":
        out.update({"x": config.get("x"), "y": config.get("y")})
    elif app == "tsne":
        out["input"] = config.get("input")
    return out


def compare_schema_move(pa, pb, old_name):
    """(difference or None, note) of an old-layout JSON file against a schema-1 summary.json."""
    with open(pa) as fa, open(pb) as fb:
        a, b = json.load(fa), json.load(fb)
    if not isinstance(b, dict) or b.get("schema") != 1 or (isinstance(a, dict) and "schema" in a):
        return None, None  # not a schema move
    mapped = schema1_as_old(b, old_name)
    if mapped is None:
        return None, None
    note = (f"schema 1 summary.json mapped onto the old {old_name}" if old_name == "result.json"
            else "schema 1 mapped onto the old layout")
    return first_json_difference(drop_times(a), drop_times(mapped)), note


def csv_lines(path):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    header = lines[0].split(b",")
    if b"seconds" not in header:
        return lines
    col = header.index(b"seconds")
    out = []
    for line in lines:
        cells = line.split(b",")
        if len(cells) == len(header):
            del cells[col]
        out.append(b",".join(cells))
    return out


def compare_csv(pa, pb):
    a, b = csv_lines(pa), csv_lines(pb)
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: {x[:60]!r} vs {y[:60]!r}"
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} lines"
    return None


def parse_lkm(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a model file")
    (length,) = struct.unpack_from("<Q", data, 8)
    header = json.loads(data[16:16 + length])
    return data[:8], header, data[16 + length:-8]


def compare_lkm(pa, pb):
    magic_a, header_a, sections_a = parse_lkm(pa)
    magic_b, header_b, sections_b = parse_lkm(pb)
    if magic_a != magic_b:
        return "magic"
    d = first_json_difference(drop_times(header_a), drop_times(header_b))
    if d:
        return f"header {d}"
    if sections_a != sections_b:
        n = min(len(sections_a), len(sections_b))
        i = next((i for i in range(n) if sections_a[i] != sections_b[i]), n)
        return f"sections differ from byte {i} (float {i // 4}) of {len(sections_a)} vs {len(sections_b)}"
    return None


def compare_bytes(pa, pb):
    with open(pa, "rb") as fa, open(pb, "rb") as fb:
        a, b = fa.read(), fb.read()
    if a == b:
        return None
    n = min(len(a), len(b))
    i = next((i for i in range(n) if a[i] != b[i]), n)
    return f"byte {i} of {len(a)} vs {len(b)}"


def compare_file(pa, pb):
    if pa.endswith(".json"):
        return compare_json(pa, pb)
    if pa.endswith(".csv"):
        return compare_csv(pa, pb)
    if pa.endswith(".lkm"):
        return compare_lkm(pa, pb)
    return compare_bytes(pa, pb)


def files_under(root):
    found = set()
    for dirpath, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    old_root, new_root, cases = argv[1], argv[2], argv[3:]
    compared = different = schema = 0
    for case in cases:
        old_dir, new_dir = os.path.join(old_root, case), os.path.join(new_root, case)
        old_files, new_files = files_under(old_dir), files_under(new_dir)
        names = sorted(old_files | new_files)
        # result.json (old) replaced by summary.json (new): compared as one file, below.
        moved = {n for n in old_files
                 if os.path.basename(n) == "result.json" and n not in new_files and
                 os.path.join(os.path.dirname(n), "summary.json") in new_files - old_files}
        names = [n for n in names if n not in moved and
                 not any(n == os.path.join(os.path.dirname(m), "summary.json") for m in moved)]
        if not names and not moved:
            print(f"{case}: DIFFERENT (no output files on either side)")
            different += 1
        for name in sorted(moved):
            pa = os.path.join(old_dir, name)
            pb = os.path.join(new_dir, os.path.dirname(name), "summary.json")
            compared += 1
            try:
                diff, note = compare_schema_move(pa, pb, "result.json")
                if note is None:
                    diff, note = "only in old (no summary.json of schema 1 in new)", ""
            except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
                diff, note = f"unreadable: {e}", ""
            label = f"{case}/{name} -> {os.path.join(os.path.dirname(name), 'summary.json')}"
            if diff:
                different += 1
                print(f"{label}: DIFFERENT ({diff})")
            else:
                schema += 1
                print(f"{label}: SCHEMA ({note}; same)")
        for name in names:
            pa, pb = os.path.join(old_dir, name), os.path.join(new_dir, name)
            compared += 1
            if os.path.exists(pa) and os.path.exists(pb) and name.endswith(".json"):
                try:
                    diff, note = compare_schema_move(pa, pb, os.path.basename(name))
                except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
                    diff, note = f"unreadable: {e}", None
                if note is not None:
                    if diff:
                        different += 1
                        print(f"{case}/{name}: DIFFERENT ({diff}; {note})")
                    else:
                        schema += 1
                        print(f"{case}/{name}: SCHEMA ({note}; same)")
                    continue
            if not os.path.exists(pb):
                diff = "only in old"
            elif not os.path.exists(pa):
                diff = "only in new"
            else:
                try:
                    diff = compare_file(pa, pb)
                except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
                    diff = f"unreadable: {e}"
            if diff:
                different += 1
                print(f"{case}/{name}: DIFFERENT ({diff})")
            else:
                print(f"{case}/{name}: same")
    print(f"compare_apps: {compared} files compared, {different} different"
          + (f", {schema} mapped across the schema change" if schema else ""))
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
