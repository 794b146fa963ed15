"""Progress of an outer loop's jobs and its final report (`SearchRunner`)."""

import numpy as np


def values(records, history, running, queued):
    """The `jobs/*` scalars: finished, running, queued, failed, best."""
    statuses = [r["status"] for r in records.values()]
    out = {
        "jobs/finished": statuses.count("ok"),
        "jobs/running": running,
        "jobs/queued": queued,
        "jobs/failed": len(statuses) - statuses.count("ok"),
    }
    if history:
        out["jobs/best_score"] = float(np.max(history))
    return out


def line(scalars):
    """`finished 3, running 2, ...`: the console line of `values`."""
    return ", ".join(f"{k[5:]} {v:.6g}" for k, v in scalars.items())


def report(records):
    """`report.txt`: each evaluation's status and what ran it where."""
    lines = []
    for record in sorted(records.values(), key=lambda r: r["id"]):
        where = record.get("where", "in process")
        jobs = ", ".join(record.get("jobs", []))
        lines.append(
            f"{record['id']:>6} {record['status']:<6} "
            f"score {record['score']:.6g} attempts {record['attempts']} "
            f"{where}{f' [{jobs}]' if jobs else ''}"
        )
    return "\n".join(lines) + "\n"
