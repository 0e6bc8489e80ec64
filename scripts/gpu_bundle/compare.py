#!/usr/bin/env python3
"""Compares the GPU bundle's app runs (standard library only): --device cuda against --device cpu
within stated tolerances, and a same-seed second --device cuda run byte for byte.

    python3 compare.py APPS_DIR [--json FILE] [--markdown FILE] [--device-label cuda]

APPS_DIR/<case>/{cpu,cuda,cuda2}/ are the output folders of one case's three runs (run.sh makes
them), with <run>.rc (exit status), <run>.secs (wall seconds) and <run>.log beside them. Exit 0
when every case passed, 1 otherwise.

Where the tolerances come from (each check names its own reason):
  * identical input and identical host-side initialisation, float64 arithmetic on both devices
    (GMM-EM): agreement to ~1e-9 per iteration in tests/test_gmm_gpu.cu; converged fits may stop
    one iteration apart (a change within rounding of tol), so BIC to 1e-6 relative and n_iter +-1;
  * identical input, float32 distances with float64 reductions on the GPU (KMeans, silhouette,
    MMD): the tests' bounds (tests/test_kmeans_gpu.cu: inertia 1e-5 relative, silhouette 1e-5;
    tests/test_mmd_gpu.cu: MMD^2 within 28 x the per-kernel rounding, p-values within 1.5
    permutation counts);
  * iterative float32 runs that feed their own rounding back (VAE training, t-SNE, RBM sampling
    chains): the one-epoch / few-iteration bounds of the tests widened for the longer runs here,
    and figures that sample (RBM inpainting, t-SNE layouts) compared by statistics, not by points;
  * decisions (a chosen K, a covered mode): must match, unless the CPU's own scores of the two
    choices lie within the tolerance of the scores (a near tie) -- then the check passes and says so.
The same-seed rerun must reproduce every CSV (timing columns named `seconds` left out), every
model file (.lkm) and image (.png) byte for byte, and every JSON figure exactly (wall-clock
keys left out): the kernels use no atomics in their sums
(fixed-order reductions), so a seed gives the same bits on the same device.
"""
import argparse
import csv
import json
import math
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def figures(d, app):
    """The figures of one run of `app` in output folder d, in one shape whatever build wrote them:
    from summary.json of schema 1 (latentkit/io/summary.h: results.<stage>), or, for a bundle
    built before it, from result.json (gmm_fit, kmeans, mmd, tsne) or the old summary.json
    (vae_gmm: `final`, `stages`; rbm_mnist: `pseudo_likelihood`, ... at the top). The shape
    returned is the old one: gmm_fit, kmeans, mmd, tsne: the app's result; rbm_mnist:
    {pseudo_likelihood, reconstruction_error, inpainting}; vae_gmm: {final, stages}."""
    summary = os.path.join(d, "summary.json")
    s = load(summary) if os.path.exists(summary) else {}
    if s.get("schema") == 1:
        results = s["results"]
        if app == "vae_gmm":
            train = results.get("train", {})
            return {"final": train.get("final", {}), "stages": results}
        if app == "rbm_mnist":
            train = results["train"]
            return {"pseudo_likelihood": train["pseudo_likelihood"],
                    "reconstruction_error": train["reconstruction_error"],
                    "inpainting": results["inpainting"]}
        return results["gmm" if app == "gmm_fit" else app]
    if app in ("vae_gmm", "rbm_mnist"):
        return load(summary)
    return load(os.path.join(d, "result.json"))


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


class Case:
    def __init__(self, name):
        self.name = name
        self.checks = []  # dicts: check, cpu, cuda, diff, limit, ok, why

    def _add(self, check, cpu, cuda, diff, limit, ok, why, note=""):
        self.checks.append({"check": check, "cpu": cpu, "cuda": cuda, "diff": diff,
                            "limit": limit, "ok": bool(ok), "why": why, "note": note})

    def close(self, check, cpu, cuda, rtol=0.0, atol=0.0, why=""):
        """|cuda - cpu| <= atol + rtol * |cpu|; any non-finite value fails."""
        try:
            a, b = float(cpu), float(cuda)
        except (TypeError, ValueError):
            self._add(check, cpu, cuda, None, None, False, why, "missing or not a number")
            return
        limit = atol + rtol * abs(a)
        diff = abs(b - a)
        ok = math.isfinite(a) and math.isfinite(b) and diff <= limit
        self._add(check, a, b, diff, limit, ok, why)

    def equal(self, check, cpu, cuda, why=""):
        self._add(check, cpu, cuda, None, None, cpu == cuda and cpu is not None, why)

    def choice(self, check, cpu, cuda, scores, rtol=0.0, atol=0.0, why=""):
        """A decision (e.g. the K with the best BIC): equal, or a near tie in the CPU's scores."""
        if cpu == cuda and cpu is not None:
            self._add(check, cpu, cuda, None, None, True, why)
            return
        try:
            a, b = float(scores[cpu]), float(scores[cuda])
            tie = abs(a - b) <= atol + rtol * max(abs(a), abs(b))
        except (KeyError, TypeError, ValueError):
            tie = False
        self._add(check, cpu, cuda, None, None, tie, why,
                  "a near tie: the CPU's scores of both choices lie within the tolerance" if tie
                  else "different choice, not a near tie")

    def fail(self, check, note, why=""):
        self._add(check, None, None, None, None, False, why, note)

    def ok(self):
        return all(c["ok"] for c in self.checks)


# ---- the cases ----------------------------------------------------------------------------------

def one_nn_label_accuracy(path):
    """Share of points whose nearest other point of the embedding has the same label."""
    header, rows = read_csv(path)
    li = header.index("label")
    dims = [i for i, h in enumerate(header) if h != "label"]
    pts = [[float(r[i]) for i in dims] for r in rows]
    labels = [r[li] for r in rows]
    hits = 0
    for i, p in enumerate(pts):
        best, best_j = float("inf"), -1
        for j, q in enumerate(pts):
            if j != i:
                d = sum((x - y) ** 2 for x, y in zip(p, q))
                if d < best:
                    best, best_j = d, j
        hits += labels[best_j] == labels[i]
    return hits / len(pts)


def check_tsne_result(c, rc, rg, cdir, gdir, prefix, exact):
    why_nnz = ("all pairs: the same P exactly" if exact else
               "kNN: float distances may swap a k-th neighbour within rounding "
               "(tests/test_tsne_gpu.cu: 1e-3 of nnz)")
    if exact:
        c.equal(f"{prefix}nnz", rc["affinities"]["nnz"], rg["affinities"]["nnz"], why_nnz)
    else:
        c.close(f"{prefix}nnz", rc["affinities"]["nnz"], rg["affinities"]["nnz"], rtol=1e-3,
                why=why_nnz)
    c.equal(f"{prefix}method", rc["method"], rg["method"], "the same method on both devices")
    hc = {h["iteration"]: h["kl"] for h in rc["kl_history"]}
    hg = {h["iteration"]: h["kl"] for h in rg["kl_history"]}
    if 50 in hc:
        c.close(f"{prefix}KL at iteration 50", hc[50], hg.get(50), rtol=1e-2,
                why="5 iterations agree to 1e-3 (tests); 50 iterations of gains and momentum "
                    "amplify the float rounding of the forces to ~1e-2 at most")
    c.close(f"{prefix}final KL", rc["kl"], rg["kl"], rtol=5e-2,
            why="t-SNE is chaotic over hundreds of iterations: the layouts drift apart, the "
                "objective they reach does not (5%)")


def case_tsne(c, cdir, gdir, exact=True):
    rc, rg = figures(cdir, "tsne"), figures(gdir, "tsne")
    check_tsne_result(c, rc, rg, cdir, gdir, "", exact)
    c.close("1-NN label accuracy of the embedding", one_nn_label_accuracy(f"{cdir}/embedding.csv"),
            one_nn_label_accuracy(f"{gdir}/embedding.csv"), atol=0.03,
            why="a statistic of the layout, not of points: both layouts keep the same "
                "neighbourhoods (3 points in 100)")


def case_gmm_fit(c, cdir, gdir):
    rc, rg = figures(cdir, "gmm_fit"), figures(gdir, "gmm_fit")
    why = ("identical data and host initialisation, float64 EM on both devices; a converged fit "
           "may stop one iteration apart (tests/test_gmm_gpu.cu: BIC 1e-6)")
    kc = {m["k"]: m for m in rc["per_k"]}
    kg = {m["k"]: m for m in rg["per_k"]}
    c.equal("K searched", sorted(kc), sorted(kg), "the same K range")
    for k in sorted(kc):
        if k not in kg:
            continue
        c.close(f"K={k} BIC", kc[k]["bic"], kg[k]["bic"], rtol=1e-6, why=why)
        c.close(f"K={k} log-likelihood", kc[k]["log_likelihood"], kg[k]["log_likelihood"],
                rtol=1e-6, why=why)
        c.close(f"K={k} iterations", kc[k]["n_iter"], kg[k]["n_iter"], atol=1, why=why)
    bic = {k: m["bic"] for k, m in kc.items()}
    aic = {k: m["aic"] for k, m in kc.items()}
    c.choice("best K by BIC", rc["best_k_bic"], rg["best_k_bic"], bic, rtol=1e-6, why=why)
    c.choice("best K by AIC", rc["best_k_aic"], rg["best_k_aic"], aic, rtol=1e-6, why=why)


def case_kmeans(c, cdir, gdir):
    rc, rg = figures(cdir, "kmeans"), figures(gdir, "kmeans")
    kc = {m["k"]: m for m in rc["per_k"]}
    kg = {m["k"]: m for m in rg["per_k"]}
    for k in sorted(kc):
        if k not in kg:
            c.fail(f"k={k}", "missing on cuda")
            continue
        c.close(f"k={k} inertia", kc[k]["inertia"], kg[k]["inertia"], rtol=1e-5,
                why="same data and seeding; float distances, float64 sums "
                    "(tests/test_kmeans_gpu.cu: 1e-5)")
        c.close(f"k={k} silhouette", kc[k]["silhouette"], kg[k]["silhouette"], atol=1e-5,
                why="float distances and sqrt, float64 means (tests: 1e-5)")
        c.close(f"k={k} iterations", kc[k]["n_iter"], kg[k]["n_iter"], atol=1,
                why="the centre-shift test may land one iteration apart within rounding")
    sil = {k: m["silhouette"] for k, m in kc.items()}
    c.choice("best k by silhouette", rc["best_k_silhouette"], rg["best_k_silhouette"], sil,
             atol=1e-5, why="the largest silhouette")
    _, lc = read_csv(f"{cdir}/labels.csv")
    _, lg = read_csv(f"{gdir}/labels.csv")
    same = sum(a == b for a, b in zip(lc, lg)) / max(1, len(lc))
    c.close("labels of the best k, share identical", 1.0, same if len(lc) == len(lg) else 0.0,
            atol=1e-3, why="one restart, well-separated mixture: the same partition and "
                           "numbering (tests: labels equal); 3 points in 3000 may sit within "
                           "rounding of a boundary")


def case_mmd(c, cdir, gdir):
    rc, rg = figures(cdir, "mmd"), figures(gdir, "mmd")
    why = ("float distances and exp, float64 sums: each normalised kernel sum within ~4e-7 "
           "relative, MMD^2 (3 sums, 7 kernels, weights 1, 1, 2) within 28x that (tests)")
    c.close("MMD^2", rc["mmd2"], rg["mmd2"], atol=1e-5, why=why)
    c.close("median heuristic", rc["median_heuristic"]["median_sq_distance"],
            rg["median_heuristic"]["median_sq_distance"], rtol=1e-6,
            why="the median of the same Philox subsample's float distances")
    pc, pg = rc["permutation_test"], rg["permutation_test"]
    c.equal("permutation test points", [pc["points_x"], pc["points_y"]],
            [pg["points_x"], pg["points_y"]], "--perm-max-points 0: every point on both")
    c.close("null mean", pc["null_mean"], pg["null_mean"], atol=1e-5, why=why)
    perms = rc["permutations"]
    c.close("p-value", rc["p_value"], rg["p_value"], atol=1.5 / (perms + 1),
            why="the same Philox permutations: one count may move when a permuted statistic "
                "lies within rounding of the observed one")


def case_rbm(c, cdir, gdir):
    rc, rg = figures(cdir, "rbm_mnist"), figures(gdir, "rbm_mnist")
    why_chain = ("the same Philox draws, but a draw within rounding of its probability flips "
                 "(~1e-7 each, millions of draws): the persistent chains then drift apart; the "
                 "per-epoch figures stay within 2%")
    for i, (a, b) in enumerate(zip(rc["pseudo_likelihood"], rg["pseudo_likelihood"])):
        c.close(f"epoch {i + 1} pseudo-likelihood", a, b, rtol=2e-2, why=why_chain)
    for i, (a, b) in enumerate(zip(rc["reconstruction_error"], rg["reconstruction_error"])):
        c.close(f"epoch {i + 1} reconstruction error", a, b, rtol=2e-2, why=why_chain)
    c.equal("epochs", len(rc["pseudo_likelihood"]), len(rg["pseudo_likelihood"]), "")
    for side in sorted(rc["inpainting"]):
        a, b = rc["inpainting"][side], rg["inpainting"].get(side, {})
        c.close(f"inpaint {side} error", a["error"], b.get("error"), rtol=0.1,
                why="20 Gibbs steps of sampling on 100 images: the mean error's own sampling "
                    "spread is ~3%; 10% is ~3 sigma")
        c.close(f"inpaint {side} baseline", a["baseline_error"], b.get("baseline_error"),
                rtol=1e-5, why="the mean training image: no sampling, float sums")


def case_vae_gmm(c, cdir, gdir):
    rc, rg = figures(cdir, "vae_gmm"), figures(gdir, "vae_gmm")
    why_train = ("float32 vs float64 over 189 Adam steps: one epoch of 32 steps agrees to 1e-4 "
                 "(tests/test_vae_gpu.cu), the drift grows with the steps")
    _, lc = read_csv(f"{cdir}/loss.csv")
    _, lg = read_csv(f"{gdir}/loss.csv")
    for a, b in zip(lc, lg):
        c.close(f"epoch {a[0]} loss", a[1], b[1], rtol=2e-3, why=why_train)
    for key in ("recon", "kl"):
        c.close(f"final {key}", rc["final"][key], rg["final"][key], rtol=1e-2,
                why="the two terms trade off against each other more than their sum")
    st_c, st_g = rc["stages"], rg["stages"]
    why_gen = ("the generated samples differ by the training drift (~1e-3): figures computed "
               "on them move by about that much, more where a fit can change its local optimum")
    # GMM-BIC: on the true data (identical on both devices) tight; on the generated samples loose.
    for part, rtol, why in (("data", 1e-6, "identical data and init, float64 EM on both devices"),
                            ("generated", 2e-2, why_gen)):
        gc, gg = st_c["gmm_bic"].get(part, {}), st_g["gmm_bic"].get(part, {})
        if "bic" not in gc:
            continue
        for k, a, b in zip(gc["k"], gc["bic"], gg.get("bic", [])):
            c.close(f"gmm_bic {part} K={k} BIC", a, b, rtol=rtol, why=why)
        c.choice(f"gmm_bic {part} best K", gc["best_k_bic"], gg.get("best_k_bic"),
                 dict(zip(gc["k"], gc["bic"])), rtol=rtol, why=why)
    mc, mg = st_c["mode_coverage"], st_g["mode_coverage"]
    c.close("mode coverage: off-manifold fraction", mc["off_manifold_fraction"],
            mg["off_manifold_fraction"], atol=0.02, why=why_gen)
    near = sum(1 for comp in mc["components"]
               if abs(comp["ratio"] - mc["covered_share_of_weight"]) < 0.05)
    c.close("mode coverage: components covered", mc["components_covered"],
            mg["components_covered"], atol=near,
            why="equal, except components whose share lies within 0.05 of the threshold "
                f"({near} here)")
    kc, kg = st_c["kmeans"], st_g["kmeans"]
    for a, b in zip(kc["per_k"], kg["per_k"]):
        c.close(f"kmeans k={a['k']} inertia", a["inertia"], b["inertia"], rtol=2e-2, why=why_gen)
    c.choice("kmeans best k", kc["best_k_silhouette"], kg["best_k_silhouette"],
             {m["k"]: m["silhouette"] for m in kc["per_k"]}, atol=0.02, why=why_gen)
    c.close("mmd MMD^2", st_c["mmd"]["mmd2"], st_g["mmd"]["mmd2"], rtol=1e-2, why=why_gen)
    perms = st_c["mmd"]["permutations"]
    c.close("mmd p-value", st_c["mmd"]["p_value"], st_g["mmd"]["p_value"],
            atol=1.5 / (perms + 1), why="the same permutations of the same 2000 points")
    for part in ("latent", "generated"):
        tc, tg = st_c["tsne"].get(part, {}), st_g["tsne"].get(part, {})
        if "kl" in tc:
            c.close(f"tsne {part} final KL", tc["kl"], tg.get("kl"), rtol=5e-2,
                    why="chaotic layouts over 300 iterations, on inputs that differ by the "
                        "training drift: the objective within 5%")


CASES = {
    "vae_gmm": case_vae_gmm,
    "gmm_fit": case_gmm_fit,
    "kmeans": case_kmeans,
    "mmd": case_mmd,
    "tsne": lambda c, a, b: case_tsne(c, a, b, exact=True),
    "tsne_fft": lambda c, a, b: case_tsne(c, a, b, exact=False),
    "rbm_mnist": case_rbm,
}


# ---- determinism: the same seed twice on the device --------------------------------------------

def csv_without_timing(path):
    header, rows = read_csv(path)
    keep = [i for i, h in enumerate(header) if h != "seconds"]
    return [[header[i] for i in keep]] + [[r[i] for i in keep if i < len(r)] for r in rows]


def json_without_timing(x):
    """The JSON value without its wall-clock figures (keys naming seconds, timings or rates)."""
    if isinstance(x, dict):
        return {k: json_without_timing(v) for k, v in x.items()
                if "seconds" not in k and "timings" not in k and "per_s" not in k}
    if isinstance(x, list):
        return [json_without_timing(v) for v in x]
    return x


def check_rerun(c, adir, bdir):
    names = sorted(f for f in os.listdir(adir) if f.endswith((".csv", ".lkm", ".png", ".json")))
    if not names:
        c.fail("rerun: output files", "the first run wrote no output file")
        return
    differ = []
    for f in names:
        pa, pb = os.path.join(adir, f), os.path.join(bdir, f)
        if not os.path.exists(pb):
            differ.append(f + " (missing)")
            continue
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            if fa.read() == fb.read():
                continue
        if f.endswith(".csv") and csv_without_timing(pa) == csv_without_timing(pb):
            continue  # only the `seconds` column differs
        if f.endswith(".json") and json_without_timing(load(pa)) == json_without_timing(load(pb)):
            continue  # only wall-clock figures differ
        differ.append(f)
    c._add("same-seed rerun: byte-identical outputs", f"{len(names)} files",
           f"{len(names) - len(differ)} identical", None, None, not differ,
           "fixed-order reductions, Philox noise: the same bits for the same seed",
           ("differ: " + ", ".join(differ)) if differ else ", ".join(names))


# ---- driver ---------------------------------------------------------------------------------------

def read_int(path, default=None):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return default


def read_float(path):
    try:
        return float(open(path).read().strip())
    except (OSError, ValueError):
        return None


def fmt(x):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("apps_dir")
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="")
    ap.add_argument("--device-label", default="cuda",
                    help="the device the 'cuda' runs used (run.sh's LK_BUNDLE_APPS_DEVICE)")
    a = ap.parse_args()

    results = []
    for name in [n for n in CASES if os.path.isdir(os.path.join(a.apps_dir, n))]:
        base = os.path.join(a.apps_dir, name)
        c = Case(name)
        rcs = {r: read_int(f"{base}/{r}.rc") for r in ("cpu", "cuda", "cuda2")}
        secs = {r: read_float(f"{base}/{r}.secs") for r in ("cpu", "cuda", "cuda2")}
        status = None
        for r, rc in rcs.items():
            if rc != 0:
                note = {None: "did not run", 124: "timed out", 137: "killed (time)",
                        143: "stopped (time)"}.get(rc, f"exit {rc}")
                c.fail(f"{r} run", f"{note}; see apps/{name}/{r}.log")
                status = status or ("timeout" if rc in (124, 137, 143, None) else "failed")
        if rcs["cpu"] == 0 and rcs["cuda"] == 0:
            try:
                CASES[name](c, f"{base}/cpu", f"{base}/cuda")
            except (OSError, KeyError, ValueError, TypeError, IndexError) as e:
                c.fail("read outputs", f"{type(e).__name__}: {e}")
        if rcs["cuda"] == 0 and rcs["cuda2"] == 0:
            check_rerun(c, f"{base}/cuda", f"{base}/cuda2")
        failed = [x for x in c.checks if not x["ok"]]
        status = status or ("passed" if not failed else "failed")
        worst = None
        ratios = [(x["diff"] / x["limit"], x) for x in c.checks
                  if x["diff"] is not None and x["limit"]]
        if ratios:
            r, x = max(ratios, key=lambda t: t[0])
            worst = f"closest to its limit: {x['check']} at {r:.2g}x"
        note = (f"{len(c.checks) - len(failed)}/{len(c.checks)} checks passed" +
                (f"; failed: {', '.join(x['check'] for x in failed[:4])}" if failed else ""))
        results.append({"app": name, "status": status, "note": note, "worst": worst,
                        "seconds": {"cpu": secs["cpu"], "cuda": secs["cuda"],
                                    "cuda2": secs["cuda2"]},
                        "checks": c.checks})

    n_pass = sum(r["status"] == "passed" for r in results)
    head = (f"{len(results)} app cases, {n_pass} passed, {len(results) - n_pass} failed "
            f"(--device {a.device_label} against --device cpu, and a same-seed rerun)")
    md = [head, ""]
    if a.device_label != "cuda":
        md += [f"**Test mode: the 'cuda' runs used --device {a.device_label}.**", ""]
    for r in results:
        md += [f"### {r['app']}: {r['status']} ({r['note']})", "",
               "| check | cpu | cuda | abs diff | limit | ok | why |",
               "|---|---:|---:|---:|---:|---|---|"]
        for x in r["checks"]:
            why = x["why"] + (f" ({x['note']})" if x["note"] else "")
            md.append(f"| {x['check']} | {fmt(x['cpu'])} | {fmt(x['cuda'])} | {fmt(x['diff'])} | "
                      f"{fmt(x['limit'])} | {'yes' if x['ok'] else '**NO**'} | "
                      f"{why.replace('|', '/')} |")
        md.append("")
    out = {"summary": head, "apps": results, "markdown": md}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(md))
    print(head)
    for r in results:
        print(f"  {r['app']}: {r['status']} ({r['note']})")
    return 0 if results and n_pass == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
