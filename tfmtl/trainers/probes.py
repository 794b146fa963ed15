"""Which probes measure a step, and handing them their results.

A probe is an action with `replica_probe(step_context) -> {key: tensor}`
(run per replica inside the traced step, before the update),
`probe_every_n_steps`, `wants(plan, run_context)` and
`record(step, results, run_context)` (run on the host with the results
summed over replicas), e.g. TAG's lookahead affinity.
"""

import numpy as np


def due_probes(actions, step, plan, context):
    """The probes among `actions` that measure step number `step`."""
    return tuple(
        a
        for a in actions
        if hasattr(a, "replica_probe")
        and step % a.probe_every_n_steps == 0
        and a.wants(plan, context)
    )


def record_probes(probes, logs, step, context):
    """Moves `probe/<name>/<key>` out of `logs` into each probe's record."""
    for probe in probes:
        prefix = f"probe/{probe.name}/"
        results = {
            k[len(prefix) :]: np.asarray(logs.pop(k))
            for k in list(logs)
            if k.startswith(prefix)
        }
        probe.record(step, results, context)
