"""The report's figures as SVG text (matplotlib, Agg backend), deterministic for the same data.

No identifiers: the swimmer plot numbers its bars 1..N.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch

from analytics import stats
from analytics.dataset import AnalysisDataset
from analytics.parallel import InChild
from analytics.report import Curves, fmt, fmt_p

FIGURE_TITLES = {
    "os": "Overall survival",
    "dor": "Duration of response",
    "os_subgroups": "Overall survival by subgroup",
    "vod_cif": "Cumulative incidence of VOD/SOS",
    "swimmer": "Swimmer plot",
    "consort": "Patient flow",
}
COLORS = ("#1f4e79", "#c0504d", "#4f8a3c", "#8064a2")
SWIMMER_MAX_PATIENTS = 150
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "legend.frameon": False,
    "svg.fonttype": "none",  # text stays text: small files, selectable in the PDF
    "svg.hashsalt": "inocd22",  # stable element ids: same data, same SVG
}


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "INO-CD22 registry"})
    plt.close(figure)
    return buffer.getvalue()


def _step(km: stats.KaplanMeier, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Step curve from time 0 (value 1) through each observed time."""
    table = km.table
    times = np.concatenate([[0.0], table["time"].to_numpy()])
    values = np.concatenate([[1.0], table[column].to_numpy()])
    return times, values


def _tick_step(last: float) -> int:
    for step in (3, 6, 12, 24):
        if last / step <= 10:
            return step
    return 48


def _km_axes(ax, curves: list[tuple[str, stats.KaplanMeier]], *, xmax: float, band: bool, ylabel: str) -> None:
    for index, (label, km) in enumerate(curves):
        color = COLORS[index % len(COLORS)]
        times, survival = _step(km, "survival")
        ax.step(times, 100 * survival, where="post", color=color, lw=1.6, label=label)
        if band:
            _, low = _step(km, "ci_low")
            _, high = _step(km, "ci_high")
            ax.fill_between(times, 100 * np.nan_to_num(low), 100 * np.nan_to_num(high, nan=0.0), step="post",
                            color=color, alpha=0.15, lw=0)
        censored = km.table[km.table["n_censored"] > 0]
        # one mark per distinct censoring time, on the curve just after that time
        ax.plot(censored["time"], 100 * censored["survival"], ls="none", marker="|", ms=6, mew=1.1, color=color)
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, 102)
    ax.set_yticks(range(0, 101, 25))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)


def _at_risk(ax, curves: list[tuple[str, stats.KaplanMeier]], ticks: np.ndarray) -> None:
    """Numbers at risk under the x axis, one row per curve."""
    ax.text(0, -0.21, "No. at risk", transform=ax.transAxes, fontsize=8, fontweight="bold", ha="left", va="top")
    for row, (label, km) in enumerate(curves):
        y = -0.28 - 0.07 * row
        color = COLORS[row % len(COLORS)]
        if len(curves) > 1:
            ax.text(-0.02, y, label, transform=ax.transAxes, fontsize=8, ha="right", va="top", color=color)
        for tick, count in zip(ticks, km.numbers_at_risk(ticks), strict=True):
            ax.text(tick, y, str(count), transform=ax.get_xaxis_transform(), fontsize=8, ha="center", va="top",
                    color=color)


def km_figure(curves: list[tuple[str, stats.KaplanMeier]], *, title: str, ylabel: str, xlabel: str,
              annotation: str, median: float | None = None) -> str:
    """Kaplan-Meier curve(s) with 95% CI band (single curve), censor marks and numbers at risk."""
    with plt.rc_context(STYLE):
        last = max((km.last_time or 0.0) for _, km in curves) or 1.0
        step = _tick_step(last)
        xmax = step * np.ceil(last / step)
        ticks = np.arange(0, xmax + step / 2, step)
        figure, ax = plt.subplots(figsize=(6.4, 4.3))
        _km_axes(ax, curves, xmax=xmax, band=len(curves) == 1, ylabel=ylabel)
        ax.set_xticks(ticks)
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        if median is not None:
            ax.plot([0, median, median], [50, 50, 0], ls=(0, (3, 3)), color="#666666", lw=0.8)
        ax.text(0.98, 0.97, annotation, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#cccccc", "lw": 0.6})
        if len(curves) > 1:
            ax.legend(loc="lower left", fontsize=8)
        _at_risk(ax, curves, ticks)
        figure.subplots_adjust(bottom=0.25)
        return _svg(figure)


def subgroup_figure(results: dict, curves: Curves) -> str:
    """Overall survival by each subgroup, one panel each, with log-rank p and HR."""
    panels = curves.subgroups
    with plt.rc_context(STYLE):
        columns = 2
        rows = int(np.ceil(len(panels) / columns))
        figure, axes = plt.subplots(rows, columns, figsize=(7.2, 2.9 * rows), squeeze=False)
        last = max((km.last_time or 0.0) for _, fits in panels for _, km in fits) or 1.0
        step = _tick_step(last)
        xmax = step * np.ceil(last / step)
        by_name = {subgroup["name"]: subgroup for subgroup in results["subgroups"]}
        for ax, (name, fits) in zip(axes.flat, panels, strict=False):
            subgroup = by_name[name]
            labelled = []
            for label, km in fits:
                group = next(g for g in subgroup["groups"] if str(g["label"]) == label)
                labelled.append((f"{label} (n={group['n']}, median {fmt(group['median'])} mo)", km))
            _km_axes(ax, labelled, xmax=xmax, band=False, ylabel="Overall survival (%)")
            ax.set_xticks(np.arange(0, xmax + step / 2, step))
            ax.set_xlabel("Months from IO start")
            ax.set_title(name, loc="left", fontsize=9)
            hr = subgroup["hazard_ratio"]
            hr_text = (f"HR {fmt(hr, 2)} ({fmt(subgroup['hr_ci_low'], 2)}-{fmt(subgroup['hr_ci_high'], 2)})"
                       if hr is not None else "HR not estimable")
            legend = ax.legend(loc="upper right", fontsize=7.5, handlelength=1.5, alignment="right",
                               title=f"log-rank p {fmt_p(subgroup['logrank_p'])}; {hr_text}",
                               title_fontsize=7.5)
            legend.get_title().set_ha("right")
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        figure.tight_layout()
        return _svg(figure)


def _cif_axes(ax, series, *, title: str, xlabel: str, top: float) -> None:
    last = 0.0
    for color, style, label, cif in series:
        times = np.concatenate([[0.0], cif.table["time"].to_numpy()])
        values = 100 * np.concatenate([[0.0], cif.table["incidence"].to_numpy()])
        ax.step(times, values, where="post", color=color, lw=1.6, ls=style, label=label)
        last = max(last, times[-1])
    xmax = min(max(last, 1.0), 12.0)  # VOD/SOS is an early event: the first year tells the story
    ax.set_xlim(0, xmax)
    ax.set_xticks(np.arange(0, xmax + 0.1, 3 if xmax > 6 else 1))
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left", fontsize=9)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper right", fontsize=7.5)


def vod_figure(results: dict, curves: Curves) -> str:
    """Cumulative incidence of VOD/SOS, death without VOD/SOS competing: from C1D1 (any
    setting, and during IO without HSCT) and, for transplanted patients, from the HSCT."""
    vod = results["vod_sos"]
    settings_ = {entry["setting"]: entry for entry in vod["by_setting"]}
    with plt.rc_context(STYLE):
        panels = 2 if "after_hsct" in curves.vod else 1
        figure, axes = plt.subplots(1, panels, figsize=(7.2, 3.4), squeeze=False, sharey=True)
        top_value = max(100 * cif.table["incidence"].max() if len(cif.table) else 0 for cif in curves.vod.values())
        top = max(10.0, 5 * np.ceil((top_value + 3) / 5))
        during = settings_["During IO, without HSCT"]
        _cif_axes(axes[0, 0], [
            (COLORS[0], "-", f"Any setting: {vod['n']}/{vod['total']} ({fmt(vod['pct'])}%)", curves.vod["any"]),
            (COLORS[1], (0, (4, 2)), f"During IO without HSCT: {during['n']}/{during['total']}",
             curves.vod["during_io"]),
        ], title="From IO start (C1D1)", xlabel="Months from C1D1", top=top)
        axes[0, 0].set_ylabel("Cumulative incidence of VOD/SOS (%)")
        if panels == 2:
            after = settings_["After HSCT"]
            _cif_axes(axes[0, 1], [
                (COLORS[2], "-", f"After allo-HSCT: {after['n']}/{after['total']} ({fmt(after['pct'])}%)",
                 curves.vod["after_hsct"]),
            ], title="Transplanted patients, from the HSCT", xlabel="Months from allo-HSCT", top=top)
        figure.suptitle("Cumulative incidence of VOD/SOS (Aalen-Johansen; death without VOD/SOS competes)",
                        x=0.01, ha="left", fontsize=10, fontweight="bold")
        figure.tight_layout()
        return _svg(figure)


def swimmer_figure(dataset: AnalysisDataset) -> str:
    """One bar per patient from C1D1 to death or last contact: IO cycles, first CR/CRi, HSCT,
    VOD/SOS, relapse, death; an arrow when alive at last contact. Bars numbered, not named."""
    patients = dataset.patients.sort_values(["os_days", "row"], ascending=[False, True], kind="mergesort")
    note = ""
    if len(patients) > SWIMMER_MAX_PATIENTS:
        # a systematic sample along the sorted follow-up, the same for the same data
        positions = np.linspace(0, len(patients) - 1, SWIMMER_MAX_PATIENTS).round().astype(int)
        patients = patients.iloc[positions]
        note = f" (systematic sample of {SWIMMER_MAX_PATIENTS} of {dataset.n_patients} patients)"
    month = stats.DAYS_PER_MONTH
    n = len(patients)
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(7.2, max(3.0, 0.11 * n + 1.4)))
        y = np.arange(n)[::-1]
        end = patients["os_days"].to_numpy() / month
        treatment_end = (patients["last_cycle_day"].fillna(0).to_numpy() + 28) / month
        treatment_end = np.minimum(treatment_end, end)
        # two collections, not 2 x 150 bar patches (which were a third of all the figures' time)
        for lengths, color in ((end, "#c9d6e8"), (treatment_end, "#1f4e79")):
            ax.add_collection(PolyCollection(_bars(y, lengths, height=0.7), facecolors=color, linewidths=0))

        def mark(column, marker, color, size=18, filled=True):
            days = patients[column].to_numpy(dtype=float)
            known = ~np.isnan(days)
            ax.scatter(days[known] / month, y[known], marker=marker, s=size, zorder=3,
                       facecolors=color if filled else "none", edgecolors=color, linewidths=0.9)

        mark("first_remission_day", "o", "#4f8a3c")
        mark("hsct_day", "^", "#e69f00", 22)
        mark("vod_day", "D", "#8064a2", 14)
        mark("relapse_day", "X", "#c0504d", 22)
        mark("death_day", "s", "black", 14)
        alive = patients["os_event"].to_numpy() == 0
        ax.scatter(end[alive] + 0.6, y[alive], marker=">", s=14, color="#1f4e79", zorder=3)
        # Every bar numbered up to 40 bars; beyond, every tenth (150 numbers in 5-point type
        # were unreadable, and laying them out was half the time of all the figures).
        numbered = np.arange(n) if n <= 40 else np.unique(np.r_[0, np.arange(9, n, 10)])
        ax.set_yticks(y[numbered])
        ax.set_yticklabels([str(i + 1) for i in numbered], fontsize=7)
        ax.set_ylim(-1, n)
        ax.set_xlim(0, max(end.max() + 2, 6))
        ax.set_xlabel("Months from IO start (C1D1)")
        ax.set_ylabel("Patient")
        ax.set_title(f"Swimmer plot{note}", loc="left")
        legend = [
            Line2D([], [], color="#1f4e79", lw=6, label="IO treatment"),
            Line2D([], [], color="#c9d6e8", lw=6, label="Follow-up"),
            Line2D([], [], ls="none", marker="o", color="#4f8a3c", label="First CR/CRi"),
            Line2D([], [], ls="none", marker="^", color="#e69f00", label="Allo-HSCT"),
            Line2D([], [], ls="none", marker="D", color="#8064a2", label="VOD/SOS"),
            Line2D([], [], ls="none", marker="X", color="#c0504d", label="Relapse"),
            Line2D([], [], ls="none", marker="s", color="black", label="Death"),
            Line2D([], [], ls="none", marker=">", color="#1f4e79", label="Alive at last contact"),
        ]
        ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.9 / (0.11 * n + 1.4)),
                  ncol=4, fontsize=7.5)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        figure.tight_layout()
        return _svg(figure)


def _bars(y: np.ndarray, lengths: np.ndarray, *, height: float) -> np.ndarray:
    """Rectangles from 0 to each length, centred on each y: (n, 4, 2) vertices."""
    low, high = y - height / 2, y + height / 2
    zeros = np.zeros_like(lengths, dtype=float)
    return np.stack([np.column_stack(corner) for corner in
                     ((zeros, low), (lengths, low), (lengths, high), (zeros, high))], axis=1)


def consort_figure(flow: dict) -> str:
    """CONSORT-style flow: registered → excluded (by reason) → analysed."""
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(figsize=(6.0, 3.6))
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 10)
        ax.axis("off")

        def box(x, y, width, height, text, **kwargs):
            ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                        boxstyle="round,pad=0.02,rounding_size=0.15", fc="white", ec="#1f4e79",
                                        lw=1.1))
            ax.text(x, y, text, ha="center", va="center", fontsize=8.5, **kwargs)

        excluded = [entry for entry in flow["excluded"] if entry["n"]]
        n_excluded = sum(entry["n"] for entry in flow["excluded"])
        box(3.0, 8.8, 4.6, 1.3, f"Patients registered\n(n = {flow['screened']})")
        lines = [f"Excluded (n = {n_excluded})"] + [f"• {entry['reason']} (n = {entry['n']})" for entry in excluded]
        height = 0.55 * len(lines) + 0.5
        box(7.6, 5.4, 4.3, height, "\n".join(lines))
        box(3.0, 1.6, 4.6, 1.9, f"Analysed (n = {flow['analysed']})\neligible, ≥ 1 IO dose,\nC1D1 by the data cut-off")
        arrow = {"arrowstyle": "-|>", "color": "#1f4e79", "lw": 1.1}
        ax.annotate("", xy=(3.0, 2.6), xytext=(3.0, 8.1), arrowprops=arrow)
        ax.annotate("", xy=(5.45, 5.4), xytext=(3.0, 5.4), arrowprops=arrow)
        ax.set_title("Patient flow", loc="left")
        return _svg(figure)


def dataset_figures(dataset: AnalysisDataset) -> dict[str, str]:
    """The figures drawn from the dataset alone (no result needed): swimmer plot and flow."""
    return {"swimmer": swimmer_figure(dataset), "consort": consort_figure(dataset.flow)}


def results_figures(results: dict, curves: Curves) -> dict[str, str]:
    """The figures drawn from the results: survival curves, subgroups, VOD/SOS incidence.
    The subgroup panels (the longest) are drawn in a second process meanwhile."""
    subgroups = InChild(subgroup_figure, results, curves)
    try:
        os_ = results["overall_survival"]
        three_years = os_["at_months"]["36"]
        os_text = (f"Median {fmt(os_['median_months'])} mo (95% CI {fmt(os_['ci_low'])}-{fmt(os_['ci_high'])})\n"
                   f"3-year OS {fmt(three_years['pct'])}%" + ("" if three_years["estimable"] else " (not estimable)")
                   + f"\n{os_['events']} deaths / {os_['n']} patients")
        dor = results["duration_of_response"]
        dor_text = (f"Median {fmt(dor['median_months'])} mo (I-III quartiles {fmt(dor['q1_months'])}-"
                    f"{fmt(dor['q3_months'])})\n{dor['events']} events / {dor['n']} responders"
                    + ("\nHSCT censors" if dor["hsct_censors_dor"] else ""))
        return {
            "os": km_figure([("All patients", curves.os)], title="Overall survival",
                            ylabel="Overall survival (%)", xlabel="Months from IO start (C1D1)",
                            annotation=os_text, median=os_["median_months"]),
            "dor": km_figure([("Responders", curves.dor)], title="Duration of response (CR/CRi)",
                             ylabel="In remission (%)", xlabel="Months from first CR/CRi", annotation=dor_text,
                             median=dor["median_months"]),
            "vod_cif": vod_figure(results, curves),
            "os_subgroups": subgroups.result(),
        }
    finally:
        subgroups.cancel()


def figures_in_order(*parts: dict[str, str]) -> dict[str, str]:
    """The figures of ``parts`` in the report's order (FIGURE_TITLES)."""
    figures = {name: svg for part in parts for name, svg in part.items()}
    return {name: figures[name] for name in FIGURE_TITLES}


def report_figures(dataset: AnalysisDataset, results: dict, curves: Curves) -> dict[str, str]:
    """Every figure of the report, by name (see FIGURE_TITLES)."""
    return figures_in_order(dataset_figures(dataset), results_figures(results, curves))
