"""Plots of a run profile for people (matplotlib, Agg backend, imported only when plotting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_run_profile(profile: dict[str, Any], out: str | Path, title: str = "") -> Path:
    """Utilisation and queueing over time of one run, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    util = profile["utilisation"]
    secs = util["seconds"]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax1.plot(secs, util["cpu_allocated"], label="CPU allocated", color="tab:blue")
    ax1.plot(
        secs,
        util["cpu_idle_while_ready"],
        label="CPU idle while work was ready",
        color="tab:red",
        alpha=0.7,
    )
    ax1.axhline(util["cpu_total"], color="grey", linestyle=":", label="capacity")
    ax1.set_ylabel("CPUs")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.plot(secs, util["ram_allocated_gb"], label="RAM allocated", color="tab:green")
    ax2.plot(secs, util["ram_used_gb"], label="RAM used", color="tab:olive")
    ax2.axhline(util["ram_total_gb"], color="grey", linestyle=":", label="capacity")
    ax2.set_ylabel("GB")
    ax2.legend(loc="upper right", fontsize=8)
    for name, values in util["queued_pipelines_by_priority"].items():
        ax3.plot(secs, values, label=f"{name.lower()} pipelines with ready work")
    ax3.set_ylabel("pipelines")
    ax3.set_xlabel("simulated seconds")
    ax3.legend(loc="upper right", fontsize=8)
    oom = profile["oom"]
    fig.suptitle(
        (title + "\n" if title else "")
        + f"OOM kills {oom['kills']} (wasted {oom['wasted_cpu_seconds']:.0f} CPU·s), "
        f"suspensions {profile['suspensions']['count']}, idle CPU·s while work was ready "
        f"{profile['idle_capacity']['cpu_seconds_idle_while_work_ready']:.0f}",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
