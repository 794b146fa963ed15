"""The peers suite of `scripts/benchmark.py`: tfmtl next to PyTorch / LibMTL.

Every measurement is one fresh process, so each side's peak resident memory
is its own: `benchmark.py --suite=measure` for tfmtl and
`benchmark_torch_peer.py` (run by `--peer_python`, an interpreter with torch
and LibMTL) for the peer. The two sides alternate case by case within each
round, so a drift of the machine's load reaches both, and ratios are taken
within a round before the median over rounds.

Cases (as the issue's table):
  precision  hard-sharing ResNet-18 (widths 64-512, small stem), 5 tasks,
             `--image_size` px, float32 vs mixed_bfloat16 (tfmtl) and
             float32 vs bf16 autocast, channels-last (PyTorch).
  weighting  EW and each of `--peer_methods` with parameter gradients, at
             K = 3 and K = 9, on the weighting suite's model (32 px, widths
             16-64); each side's time relative to its own EW, and tfmtl's
             ratio as a fraction of LibMTL's.
"""

import json
import os
import resource
import subprocess
import sys

import numpy as np
from absl import flags

HERE = os.path.dirname(os.path.abspath(__file__))
PRECISION_TASKS = ("segmentation", "depth", "normals", "attr_a0", "attr_b0")
# tfmtl registry name -> LibMTL weighting class.
LIBMTL_NAMES = {
    "pcgrad": "PCGrad",
    "cagrad": "CAGrad",
    "mgda": "MGDA",
    "gradvac": "GradVac",
}

flags.DEFINE_string(
    "peer_python",
    os.environ.get("TFMTL_PEER_PYTHON"),
    "Peers suite: a Python interpreter with torch and LibMTL "
    "(default $TFMTL_PEER_PYTHON).",
)
flags.DEFINE_list(
    "peer_methods",
    ["pcgrad", "cagrad", "mgda"],
    f"Peers suite: weightings to compare ({', '.join(LIBMTL_NAMES)}).",
)
flags.DEFINE_list(
    "peer_cases", ["precision", "weighting"], "Peers suite: cases to run."
)
flags.DEFINE_enum("case", "precision", ["precision", "weighting"], "Measure.")
flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16"], "Measure: precision.")
flags.DEFINE_string("method", "ew", "Measure: tfmtl weighting name.")
flags.DEFINE_list("tasks", list(PRECISION_TASKS), "Measure: task names.")


def measure(flags_, step_times, problem):
    """Prints one JSON line for the `--case` of this process (tfmtl side)."""
    from tfmtl import weighting as weighting_lib
    from tfmtl.testing import tiny_problem

    steps, warmup = flags_.steps, flags_.warmup
    tasks = tuple(flags_.tasks)
    if flags_.case == "precision":
        kwargs = dict(
            tasks=tasks,
            image_size=flags_.image_size,
            widths=(64, 128, 256, 512),
            global_batch_size=flags_.batch_size,
            num_train=flags_.batch_size * (steps + warmup + 1),
        )
        policy = "mixed_bfloat16" if flags_.precision == "bf16" else None
        run_kwargs = {"mixed_precision": policy}
    else:
        kwargs = problem(tasks, steps + warmup + 1)
        cls = weighting_lib.ALL[flags_.method]
        run_kwargs = {"weighting": cls}
        if flags_.method in LIBMTL_NAMES:
            run_kwargs["weighting"] = lambda: cls(gradients="parameters")
    info = {}
    times = step_times(
        tiny_problem(**kwargs), steps, warmup, info=info, **run_kwargs
    )
    values = [times[s] for s in sorted(times)]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "median_s": float(np.median(values)),
                "times_s": values,
                "parameters": info["parameters"],
                "peak_rss_mb": peak_kib / 1024.0,
            }
        )
    )


def _child(command):
    """Runs one measuring process; returns its JSON line as a dict."""
    out = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=HERE
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(
            f"benchmark_peers: {' '.join(command[:3])} ... failed "
            f"(rc {out.returncode}): {out.stderr.strip()[-2000:]}"
        )
    return json.loads(lines[-1])


def _pair(flags_, case, precision="fp32", method="ew", tasks=PRECISION_TASKS):
    """`(tfmtl, peer)` results of one case, measured one after the other."""
    common = [
        f"--steps={flags_.steps}",
        f"--warmup={flags_.warmup}",
        f"--batch_size={flags_.batch_size}",
        f"--tasks={','.join(tasks)}",
    ]
    image = flags_.image_size if case == "precision" else 32
    widths = "64,128,256,512" if case == "precision" else "16,32,64,64"
    ours = _child(
        [sys.executable, os.path.join(HERE, "benchmark.py"), "--suite=measure"]
        + common
        + [
            f"--case={case}",
            f"--precision={precision}",
            f"--method={method}",
            f"--image_size={image}",
        ]
    )
    peer = _child(
        [flags_.peer_python, os.path.join(HERE, "benchmark_torch_peer.py")]
        + common
        + [
            f"--case={case}",
            f"--precision={precision}",
            f"--method={LIBMTL_NAMES.get(method, 'EW')}",
            f"--image_size={image}",
            f"--widths={widths}",
        ]
    )
    return ours, peer


def _spread(values):
    return f"{min(values):.2f}-{max(values):.2f}"


def precision_case(flags_):
    rows = {p: {"ours": [], "peer": [], "ratio": []} for p in ("fp32", "bf16")}
    for _ in range(flags_.rounds):
        for precision in rows:
            ours, peer = _pair(flags_, "precision", precision=precision)
            row = rows[precision]
            row["ours"].append(ours)
            row["peer"].append(peer)
            row["ratio"].append(ours["median_s"] / peer["median_s"])
    first = rows["fp32"]
    print(
        f"\nHardSharing ResNet-18, {flags_.image_size} px, batch "
        f"{flags_.batch_size}, 5 tasks; parameters tfmtl "
        f"{first['ours'][0]['parameters']:,} / PyTorch "
        f"{first['peer'][0]['parameters']:,}; median of {flags_.rounds} "
        "round(s)"
    )
    print(
        f"  {'precision':<10}{'tfmtl s':>9}{'torch s':>9}{'tfmtl/torch':>13}"
        f"{'RSS MB tfmtl/torch':>22}"
    )
    for precision, row in rows.items():
        ours = np.median([r["median_s"] for r in row["ours"]])
        peer = np.median([r["median_s"] for r in row["peer"]])
        rss_ours = np.median([r["peak_rss_mb"] for r in row["ours"]])
        rss_peer = np.median([r["peak_rss_mb"] for r in row["peer"]])
        print(
            f"  {precision:<10}{ours:>9.3f}{peer:>9.3f}"
            f"{np.median(row['ratio']):>9.2f}x ({_spread(row['ratio'])})"
            f"{rss_ours:>9.0f} / {rss_peer:.0f}"
        )


def weighting_case(flags_):
    attributes = ("attr_a0", "attr_a1", "attr_a2", "attr_b0", "attr_b1")
    attributes += ("attr_b2", "attr_c0", "attr_c1")
    methods = ["ew"] + [m for m in flags_.peer_methods if m != "ew"]
    unknown = sorted(set(methods) - set(LIBMTL_NAMES) - {"ew"})
    if unknown:
        raise SystemExit(f"benchmark_peers: no LibMTL peer for {unknown}")
    for tasks in (attributes[:2] + ("depth",), attributes + ("depth",)):
        ratios = {m: {"ours": [], "peer": []} for m in methods[1:]}
        for _ in range(flags_.rounds):
            times = {
                m: _pair(flags_, "weighting", method=m, tasks=tasks)
                for m in methods
            }
            base_ours, base_peer = (t["median_s"] for t in times["ew"])
            for m in methods[1:]:
                ratios[m]["ours"].append(times[m][0]["median_s"] / base_ours)
                ratios[m]["peer"].append(times[m][1]["median_s"] / base_peer)
        print(
            f"\nK = {len(tasks)}: step time relative to each side's EW, "
            f"parameter gradients; median of {flags_.rounds} round(s)"
        )
        print(f"  {'method':<12}{'tfmtl':>8}{'LibMTL':>8}{'tfmtl/LibMTL':>14}")
        for m, r in ratios.items():
            ours, peer = np.median(r["ours"]), np.median(r["peer"])
            print(f"  {m:<12}{ours:>7.2f}x{peer:>7.2f}x{ours / peer:>13.2f}x")


def peers_suite(flags_):
    if not flags_.peer_python:
        raise SystemExit(
            "benchmark_peers: --peer_python (or $TFMTL_PEER_PYTHON) must name "
            "an interpreter with torch and LibMTL installed"
        )
    cases = {"precision": precision_case, "weighting": weighting_case}
    for case in flags_.peer_cases:
        cases[case](flags_)
