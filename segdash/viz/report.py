"""A comparison as one self-contained HTML file that opens offline in any browser.

    facts = report_facts(result, ds, models, command)   # segdash.infer.compare: names, examples, command
    html = comparison_report(result, facts)
    Path("report.html").write_text(html)

Inside: the models and their checkpoints' metadata, per pair the verdict table, the forest plot,
the per-image paired scatter and the fixed / broken pixels per class, the images where B fixed
and broke the most (ground truth, A, B and the difference map as embedded PNGs), and the command.
Plotly's JavaScript is written into the file once (no CDN), so nothing is fetched.

It draws what it is given and reads nothing: the caller (``segdash compare --html``, the Compare
page) gathers the facts (``segdash.infer.compare.ReportFacts``): display names and shown folders
(never a server path), the checkpoints' descriptions, the example images, the command.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Sequence

from segdash.metrics.paired import paired_overall
from segdash.viz.embed import png_data_uri
from segdash.viz.figures import fixed_broken_figure, forest_figure, metric_label, paired_scatter_figure
from segdash.viz.swipe import swipe_height, swipe_html

__all__ = ["comparison_report", "forest_rows", "png_data_uri"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_STYLE = """
body { font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1280px;
       padding: 0 16px; line-height: 1.45; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; margin-top: 36px; border-bottom: 1px solid #ddd; }
h3 { font-size: 16px; margin-top: 22px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.better { color: #1a7f1a; font-weight: 600; } .worse { color: #c62828; font-weight: 600; } .unclear { color: #555; }
.muted { color: #666; font-size: 13px; } pre { background: #f6f6f6; padding: 10px; white-space: pre-wrap; }
.examples { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; margin-bottom: 12px; }
.examples figure { margin: 0; } .examples img { width: 100%; image-rendering: pixelated; border: 1px solid #ccc; }
.examples figcaption { font-size: 12px; color: #444; }
"""


def _e(value) -> str:
    return html.escape(str(value))


def _num(value, spec: str = ".3f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _figure_html(fig, first: bool) -> str:
    """A Plotly figure as a <div>; the first one carries plotly.js itself (inline, a few MB, no CDN)."""
    return fig.to_html(full_html=False, include_plotlyjs=first,
                       config={"displaylogo": False, "responsive": True})  # fmt: skip


def _models_table(result, facts) -> str:
    doc = result.comparison
    rows = []
    for m, (model, evaluation) in enumerate(zip(facts.models, result.evaluations)):
        share = doc.rank_first[m]
        rows.append(f"<tr><td><b>{LETTERS[m]}</b></td><td>{_e(model.name)}</td><td><code>{_e(model.shown_source)}"
                    f"</code></td><td>{_e(model.description)}</td><td class=num>{_num(doc.model_means[m])}</td>"
                    f"<td class=num>{_num(share * 100, '.0f')}%</td>"
                    f"<td class=num>{evaluation.seconds:.1f} s</td></tr>")  # fmt: skip
    head = ("<tr><th></th><th>model</th><th>source</th><th>checkpoint</th>"
            f"<th>mean {_e(metric_label(doc.metric))}</th><th>ranks first</th><th>evaluation</th></tr>")  # fmt: skip
    return f"<table>{head}{''.join(rows)}</table>"


def _verdict_table(pair, label_a: str, label_b: str) -> str:
    rows = []
    for stat in [pair.overall, *pair.per_class]:
        css = {"better": "better", "worse": "worse"}.get(stat.outcome, "unclear")
        name = f"<b>{_e(stat.name)}</b>" if stat.name == "overall" else _e(stat.name)
        rows.append(f"<tr><td>{name}</td><td class=num>{_num(stat.mean_a)}</td><td class=num>{_num(stat.mean_b)}</td>"
                    f"<td class=num>{_num(stat.diff, '+.3f')}</td><td class=num>{_num(stat.ci_low, '+.3f')} .. "
                    f"{_num(stat.ci_high, '+.3f')}</td><td class=num>{_num(stat.p_value, '.2g')}</td>"
                    f"<td class=num>{stat.wins} / {stat.ties} / {stat.losses}</td><td class=num>{stat.images}</td>"
                    f"<td class={css}>{_e(stat.verdict(label_b))}</td></tr>")  # fmt: skip
    head = (f"<tr><th>class</th><th>{label_a}</th><th>{label_b}</th><th>{label_b} − {label_a}</th><th>95% CI</th>"
            "<th>p (Wilcoxon)</th><th>wins / ties / losses</th><th>images</th><th>verdict</th></tr>")  # fmt: skip
    return f"<table>{head}{''.join(rows)}</table>"


def forest_rows(pair) -> list[dict]:
    """A pair's overall and per-class statistics as the rows ``forest_figure`` takes."""
    return [{**s.to_dict(), "outcome": s.outcome} for s in [pair.overall, *pair.per_class]]


def _examples(facts, pair, label_a: str, label_b: str) -> str:
    """The images where B fixed and broke the most pixels: ground truth, A, B and the difference map."""
    from segdash.viz.overlay import difference_map, overlay_mask

    key = (pair.a, pair.b)
    if key not in facts.fixed:
        return f"<p class=muted>Example images: {_e(facts.examples_note or 'predictions not kept')}.</p>"
    blocks = []
    draw = {"alpha": 0.5, "ignore_index": facts.ignore_index}
    for title, picks in ((f"Where {label_b} fixed the most pixels", facts.fixed[key]),
                         (f"Where {label_b} broke the most pixels", facts.broken.get(key, []))):  # fmt: skip
        if not picks:
            blocks.append(f"<h3>{_e(title)}</h3><p class=muted>none: no image has a net change this way.</p>")
            continue
        cells = []
        for example in picks:
            image, mask = example.image, example.mask
            diff = difference_map(example.pred_a, example.pred_b, mask, ignore_index=facts.ignore_index, image=image)
            panels = [("ground truth", overlay_mask(image, mask, facts.colors, **draw)),
                      (label_a, overlay_mask(image, example.pred_a, facts.colors, **draw)),
                      (label_b, overlay_mask(image, example.pred_b, facts.colors, **draw)),
                      (f"{diff.counts['fixed']:,} px fixed (green), {diff.counts['broken']:,} broken (red)", diff.rgb)]
            cells += [f"<figure><img alt='{_e(caption)}' src='{png_data_uri(rgb)}'><figcaption>"
                      f"{_e(example.sample_id)}: {_e(caption)}</figcaption></figure>" for caption, rgb in panels]  # fmt: skip
        blocks.append(f"<h3>{_e(title)}</h3><div class=examples>{''.join(cells)}</div>")
    if facts.fixed[key]:
        blocks.append(_swipe_block(facts, facts.fixed[key][0], label_a, label_b))
    return "".join(blocks)


def _swipe_block(facts, example, label_a: str, label_b: str) -> str:
    """The image B fixed most under a wipe slider from A's overlay to B's (its own small page in an iframe)."""
    from segdash.viz.overlay import overlay_mask

    draw = {"alpha": 0.5, "ignore_index": facts.ignore_index}
    shown = [overlay_mask(example.image, labels, facts.colors, **draw) for labels in (example.pred_a, example.pred_b)]
    page = swipe_html(shown[0], shown[1], label_a, label_b, width=640)
    return (f"<h3>Swipe from {label_a} to {label_b}: {_e(example.sample_id)}</h3>"
            f"<iframe title='swipe' style='border:0;width:660px;height:{swipe_height(example.image.shape, 640) + 20}px' "
            f"srcdoc=\"{html.escape(page, quote=True)}\"></iframe>")  # fmt: skip


def _pair_section(result, facts, pair, first_figure: bool) -> str:
    names = [m.name for m in facts.models]
    la, lb = LETTERS[pair.a], LETTERS[pair.b]
    metric = result.comparison.metric
    parts = [f"<h2>{lb} = {_e(names[pair.b])} against {la} = {_e(names[pair.a])}</h2>",
             f"<p><b>Overall: {_e(pair.overall.verdict(lb))}</b></p>", _verdict_table(pair, la, lb),
             _figure_html(forest_figure(forest_rows(pair), metric, la, lb), first_figure)]  # fmt: skip
    scores = result.comparison.scores
    overall = paired_overall(scores[pair.a], scores[pair.b])
    parts.append(_figure_html(paired_scatter_figure(overall[0], overall[1], result.sample_ids, metric, la, lb,
                                                    title=f"Per image overall {metric_label(metric)}: {lb} against "
                                                          f"{la} (above the diagonal: {lb} better)"), False))
    if result.pixel_changes is not None:
        counts = result.pixel_changes[(pair.a, pair.b)].sum(axis=0)
        parts.append(_figure_html(fixed_broken_figure(counts[0], counts[1], result.classes, la, lb), False))
    else:
        parts.append(f"<p class=muted>Fixed / broken pixels: {_e(result.pixel_note)}.</p>")
    parts.append(_examples(facts, pair, la, lb))
    return "".join(parts)


def comparison_report(result, facts, pairs: Sequence[tuple[int, int]] | None = None) -> str:
    """The whole report as one HTML string. ``result``: a ``ModelComparison``; ``facts``: its ``ReportFacts``
    (names, shown folders, descriptions, example images, command); ``pairs``: which to show, default all."""
    from segdash import __version__

    comparison = result.comparison
    chosen = [p for p in comparison.pairs if pairs is None or (p.a, p.b) in set(pairs)]
    boot = f"{comparison.samples:,} bootstrap resamples of the images (seed {comparison.seed})"
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>Comparison on {_e(facts.dataset)} / {_e(facts.split)}</h1>",
        (f"<p class=muted>{len(result.sample_ids)} images · per-image {_e(metric_label(comparison.metric))} · "
         f"{boot} · segdash {_e(__version__)} · {when}</p>"),
        "<h2>Models</h2>", _models_table(result, facts),
        ("<p class=muted>Mean: per image, the mean over the classes defined for every model, then over the images. "
         "Ranks first: share of the resamples in which the model has the best mean.</p>"),
    ]  # fmt: skip
    for k, pair in enumerate(chosen):
        body.append(_pair_section(result, facts, pair, first_figure=k == 0))
    body += [
        ("<h2>How to read this</h2><p>A class's score in an image is undefined when the class is in neither the "
         "ground truth nor the prediction; each pair uses the images where both scores are defined (the "
         "<i>images</i> column). The difference is the mean over those images of B − A; the 95% interval is the "
         f"2.5th..97.5th percentile of that mean over {boot}; p is the two-sided Wilcoxon signed-rank test on the "
         "paired differences (differences within 1e-9 count as ties). A verdict says better or worse only when the "
         "interval excludes 0 and p &lt; 0.05; otherwise: no clear difference.</p>"),
        f"<h2>Command</h2><pre>{_e(facts.command)}</pre>",
    ]  # fmt: skip
    title = f"segdash comparison: {facts.dataset} / {facts.split}"
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")  # fmt: skip
