#!/usr/bin/env python3
"""Writes the GPU bundle's summary.md from run.sh's work folder (standard library only).

    python3 summarize.py WORK_DIR OUT.md

WORK_DIR holds steps.tsv (step, status, seconds, note), context.txt, gpu.csv (nvidia-smi),
gpu_tests_*.xml (JUnit, one per shard), apps/compare.json (compare.py), bench/steps.tsv and bench/*.json
(bench/run_all.sh, the benches and the peers), exit_code. The summary is one table of every step
(passed / failed / no GPU / refused / skipped / cut / timeout) with what it found, then the
headline figures (latentkit against its peers, as ratios > 1 when latentkit is faster) and every
benchmark row.
"""
import csv
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

EXIT_MEANING = {
    "0": "every step passed",
    "1": "a step failed",
    "3": "no GPU: the GPU steps were not run",
    "4": "nothing failed, but a step was cut or skipped for time",
}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_tsv(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if parts and parts[0]:
                    rows.append((parts + ["", "", ""])[:4])
    except OSError:
        pass
    return rows


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt(x, digits=4):
    if x is None:
        return "–"
    if isinstance(x, float):
        if x != x:
            return "nan"
        return f"{x:.{digits}g}"
    return str(x)


def junit(paths):
    """Totals over gtest JUnit XML files (one per shard): tests, failures, errors, skipped,
    disabled, seconds (the longest shard), failed test names."""
    out = {"tests": 0, "failures": 0, "errors": 0, "disabled": 0, "skipped": 0, "seconds": 0.0,
           "failed": [], "files": 0}
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            continue
        out["files"] += 1
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                out["failed"].append(f"{case.get('classname')}.{case.get('name')}")
            if case.get("result") == "skipped" or case.find("skipped") is not None:
                out["skipped"] += 1
        for key in ("tests", "failures", "errors", "disabled"):
            out[key] += int(root.get(key, 0))
        out["seconds"] = max(out["seconds"], float(root.get("time", 0) or 0))
    return out if out["files"] else None


def bench_rows(work):
    """Every result row of every bench_*.json: (bench, row)."""
    out = []
    bdir = os.path.join(work, "bench")
    for name in sorted(os.listdir(bdir)) if os.path.isdir(bdir) else []:
        if name.startswith("bench_") and name.endswith(".json"):
            j = load_json(os.path.join(bdir, name))
            if j:
                for r in j.get("results", []):
                    out.append((name[:-5], r, j.get("header", {})))
    return out


def find_row(rows, bench, pattern):
    for b, r, _ in rows:
        if b == bench and re.search(pattern, r.get("name", "")):
            return r
    return None


def headlines(work, rows):
    """(what, latentkit, peer, ratio) lines; the ratio > 1 when latentkit is faster."""
    b = lambda f: load_json(os.path.join(work, "bench", f))
    lines = []

    def add(what, ours, peer, ratio, note=""):
        lines.append((what, ours, peer, ratio, note))

    # VAE seed training run: bench_vae's own ratio against the eager peer, and the graphs peer.
    seed = find_row(rows, "bench_vae", r"^VAE seed training run")
    for mode in ("eager", "cuda_graphs", "compile"):
        pj = b(f"vae_torch_{mode}.json")
        if seed and pj and seed.get("samples_per_s") and pj.get("samples_per_s"):
            add(f"VAE seed training run (100 epochs), samples/s vs PyTorch {mode}",
                f"{seed['samples_per_s']:.0f}", f"{pj['samples_per_s']:.0f}",
                seed["samples_per_s"] / pj["samples_per_s"])
        elif seed and mode == "eager":
            add("VAE seed training run (100 epochs), samples/s",
                fmt(seed.get("samples_per_s") or seed.get("median_ms")), "no PyTorch peer", None)
    # RBM: the CUDA-graph epoch at 256 hidden, batch 64 against PyTorch's same configuration.
    rt = b("rbm_torch.json")
    for hidden, batch in ((256, 64), (512, 128)):
        ours = find_row(rows, "bench_rbm", rf"CD-1 epoch \d+x784, {hidden} hidden, batch {batch} \(CUDA graph\)")
        peer = None
        if rt:
            peer = next((r for r in rt.get("results", [])
                         if r.get("hidden") == hidden and r.get("batch") == batch), None)
        if ours:
            add(f"RBM CD-1 epoch {hidden} hidden, batch {batch} (graph), ms vs PyTorch",
                fmt(ours.get("median_ms")), fmt(peer.get("median_ms")) if peer else "–",
                peer["median_ms"] / ours["median_ms"] if peer and ours.get("median_ms") else None,
                "goal ≤ 30 ms and ≥ 5× PyTorch" if hidden == 256 else "")
    rs = b("rbm_sklearn.json")
    ours = find_row(rows, "bench_rbm", r"CD-1 epoch \d+x784, 256 hidden, batch 64 \(CUDA graph\)")
    if ours and rs and rs.get("seconds_per_epoch"):
        add("RBM epoch 256/64 vs scikit-learn BernoulliRBM (CPU), ms", fmt(ours.get("median_ms")),
            fmt(rs["seconds_per_epoch"] * 1e3), rs["seconds_per_epoch"] * 1e3 / ours["median_ms"])
    # Pairwise: MMD^2 and its permutation test vs torch.cdist; KMeans and silhouette vs sklearn.
    mt = b("mmd_torch.json")
    ours = find_row(rows, "bench_pairwise", r"^MMD\^2 N=M=10000")
    if ours:
        peer = mt.get("median_ms") if mt else None
        add("MMD² N=M=10000, ms vs torch.cdist", fmt(ours.get("median_ms")), fmt(peer),
            peer / ours["median_ms"] if peer and ours.get("median_ms") else None,
            "goal ≤ 0.5 ms and ≥ 20×")
    ours = find_row(rows, "bench_pairwise", r"^MMD permutation test N=M=10000")
    if ours:
        peer = mt.get("perm_median_ms") if mt else None
        add("MMD permutation test, ms vs torch.cdist", fmt(ours.get("median_ms")), fmt(peer),
            peer / ours["median_ms"] if peer and ours.get("median_ms") else None)
    ks = b("kmeans_sklearn.json")
    ours = find_row(rows, "bench_pairwise", r"^KMeans 1000000x3")
    if ours:
        peer = ks.get("kmeans_ms") if ks else None
        add("KMeans 1M×3 k=10, 50 iterations, ms vs scikit-learn", fmt(ours.get("median_ms")),
            fmt(peer), peer / ours["median_ms"] if peer and ours.get("median_ms") else None,
            "goal ≤ 20 ms")
    ours = find_row(rows, "bench_pairwise", r"^silhouette 10000x3")
    if ours:
        peer = ks.get("silhouette_ms") if ks else None
        add("silhouette 10000×3, ms vs scikit-learn", fmt(ours.get("median_ms")), fmt(peer),
            peer / ours["median_ms"] if peer and ours.get("median_ms") else None)
    # GMM: bench_gmm's own ratio against scikit-learn (seed case).
    for bn, r, _h in rows:
        if bn == "bench_gmm" and r.get("ratio"):
            add(f"GMM {r['name']}, ms vs {r.get('peer', 'peer')}", fmt(r.get("median_ms")), "",
                r["ratio"], "goal ≤ 10 ms")
    # t-SNE: the end-to-end rows (no like-for-like peer in the bundle: scikit-learn runs a
    # smaller exact case there).
    for bn, r, _h in rows:
        if bn == "bench_tsne" and re.search(r"end to end|pipeline|Fashion", r.get("name", "")):
            add(f"t-SNE {r['name']}, ms", fmt(r.get("median_ms")), "", None,
                "goals: exact 10000 ≤ 1 s, Fashion-MNIST 70000 ≤ 3 s")
    ts = b("tsne_sklearn.json")
    for r in ts or []:
        add(f"(peer) {r.get('name')}: scikit-learn seconds", "", fmt(r.get("seconds")), None,
            f"KL {fmt(r.get('kl'))}")
    return lines


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    work, out_path = sys.argv[1], sys.argv[2]
    steps = read_tsv(os.path.join(work, "steps.tsv"))
    code = ""
    try:
        code = open(os.path.join(work, "exit_code")).read().strip()
    except OSError:
        code = "(run.sh was stopped before it finished)"
    md = ["# latentkit GPU bundle: summary", ""]
    try:
        for line in open(os.path.join(work, "context.txt")):
            md.append(f"- {line.strip()}")
    except OSError:
        pass
    gpu = None
    try:
        with open(os.path.join(work, "gpu.csv")) as f:
            r = list(csv.reader(f))
            if len(r) >= 2:
                gpu = dict(zip([h.strip() for h in r[0]], [v.strip() for v in r[1]]))
    except OSError:
        pass
    if gpu:
        md.append("- device: " + ", ".join(f"{k} {v}" for k, v in gpu.items()))
    else:
        md.append("- device: no GPU (nvidia-smi absent or listing none)")
    md.append(f"- exit status: {code} ({EXIT_MEANING.get(code, 'see run.sh')})")
    md += ["", "## Steps", "", "| step | status | seconds | what it found |", "|---|---|---:|---|"]

    compare = load_json(os.path.join(work, "apps", "compare.json"))
    bench_steps = read_tsv(os.path.join(work, "bench", "steps.tsv"))
    for name, status, secs, note in steps:
        if name == "gpu_tests":
            j = junit(sorted(glob.glob(os.path.join(work, "gpu_tests*.xml"))))
            if j:
                note = (f"{j['tests']} tests, {j['failures']} failed, {j['errors']} errors, "
                        f"{j['skipped']} skipped, {j['disabled']} disabled, "
                        f"{j['seconds']:.1f} s in the longest of {j['files']} shards"
                        + (f"; failed: {', '.join(j['failed'][:8])}" if j["failed"] else "")
                        + f" ({note})")
        md.append(f"| {cell(name)} | **{cell(status)}** | {cell(secs)} | {cell(note)} |")
        if name == "apps" and compare:
            for app in compare.get("apps", []):
                worst = app.get("worst", "")
                md.append(f"| &nbsp;&nbsp;apps: {cell(app['app'])} | {cell(app['status'])} | "
                          f"{fmt(app.get('seconds', {}).get('cuda'))} cuda / "
                          f"{fmt(app.get('seconds', {}).get('cpu'))} cpu | {cell(app.get('note', ''))}"
                          f"{'; ' + cell(worst) if worst else ''} |")
        if name == "benches":
            for bname, bstatus, bsecs, bnote in bench_steps:
                md.append(f"| &nbsp;&nbsp;bench: {cell(bname)} | {cell(bstatus)} | {cell(bsecs)} | "
                          f"{cell(bnote)} |")

    rows = bench_rows(work)
    heads = headlines(work, rows) if rows else []
    if heads:
        md += ["", "## Headline figures (ratio > 1: latentkit faster)", "",
               "| what | latentkit | peer | ratio | note |", "|---|---:|---:|---:|---|"]
        for what, ours, peer, ratio, note in heads:
            md.append(f"| {cell(what)} | {cell(ours)} | {cell(peer)} | "
                      f"{'–' if ratio is None else f'{ratio:.2f}'} | {cell(note)} |")
    if rows:
        header = rows[0][2]
        md += ["", "## Every benchmark row", "",
               f"Device {header.get('device', '?')}, driver {header.get('driver_version', '?')}, "
               f"runtime {header.get('runtime_version', '?')}, commit {header.get('commit', '?')}, "
               f"{header.get('date_utc', '?')}; copy these into bench/RESULTS.md.", "",
               "| bench | case | median ms | noise % | GFLOP/s | GB/s | % peak FLOP/s / BW | peer | ratio |",
               "|---|---|---:|---:|---:|---:|---:|---|---:|"]
        for b, r, _ in rows:
            md.append(f"| {b} | {cell(r.get('name'))} | {fmt(r.get('median_ms'))} | "
                      f"{fmt(r.get('noise_pct'), 2)} | {fmt(r.get('gflops'))} | {fmt(r.get('gbps'))} | "
                      f"{fmt(r.get('pct_peak_flops'), 3)} / {fmt(r.get('pct_peak_bw'), 3)} | "
                      f"{cell(r.get('peer') or '')} | {fmt(r.get('ratio'), 3)} |")
    if compare:
        md += ["", "## Apps: --device cuda against --device cpu", ""]
        md += compare.get("markdown", [])
    md += ["", "Everything else (logs, JUnit XML, JSON, the apps' outputs) is in results.tar.gz.", ""]
    with open(out_path, "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
