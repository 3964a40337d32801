"""Evaluations the pages share: started in the background, found again by dataset, model and split.

The Evaluate page starts them; Predict (worst images), Dataset (object recall by size) and Compare
read them. Shared here so that no page module imports another. In public mode each visitor's
evaluations are their own (``jobs.owner``).
"""

from __future__ import annotations

from segdash.ui import cache, jobs
from segdash.ui.sidebar import SidebarChoice


def score_frame(scores):
    """``Scores`` as a table with a ``name`` column (the layout the viz figures take), one row per class."""
    frame = scores.to_frame().rename_axis("name").reset_index()
    return frame[[c for c in ("name", "iou", "dice", "precision", "recall", "specificity", "support") if c in frame]]


def _tags(choice: SidebarChoice, split: str) -> dict:
    model = choice.model_choice
    return {
        "kind": "evaluation",
        "dataset": cache.dataset_key(choice.dataset_choice),
        "model": f"{model.path}|{model.device}|{cache.checkpoint_stamp(model.path)}",
        "split": split,
        "owner": jobs.owner(),  # public mode: this session's jobs only
    }


def evaluation_key(choice: SidebarChoice, split: str, limit: int, distances: bool) -> str:
    tags = _tags(choice, split)
    return "|".join(["eval", tags["owner"], tags["dataset"], split, tags["model"], str(limit), "d" if distances else "-"])


def finished_evaluations(choice: SidebarChoice, split: str | None = None) -> list[jobs.Job]:
    """Finished evaluations of the chosen model on the chosen dataset (one split, or all), newest first."""
    wanted = _tags(choice, split or "")
    found = [
        job for job in jobs.job_board().all()
        if job.status == jobs.FINISHED and job.tags.get("kind") == "evaluation"
        and job.tags.get("dataset") == wanted["dataset"] and job.tags.get("model") == wanted["model"]
        and job.tags.get("owner") == wanted["owner"]
        and (split is None or job.tags.get("split") == split)
    ]  # fmt: skip
    return sorted(found, key=lambda job: job.finished or 0, reverse=True)


def latest_evaluation(choice: SidebarChoice, split: str | None = None):
    """The newest finished ``Evaluation`` of the chosen model on the chosen dataset (a split, or any)."""
    found = finished_evaluations(choice, split)
    return found[0].result if found else None


def worst_sample_ids(choice: SidebarChoice, split: str) -> list[str] | None:
    """Sample ids of ``split`` ranked worst first by the last evaluation, or None when there is none."""
    evaluation = latest_evaluation(choice, split)
    if evaluation is None:
        return None
    return list(ranked_images(evaluation)["sample_id"])


#: The ranking a page opens on.
DEFAULT_RANKING = "mean_dice"


def ranking_options(evaluation) -> dict[str, str]:
    """The per-image columns of ``evaluation`` that images can be ranked by, the default first:
    {column: what its worst end means} (``MetricSpec.ranking``)."""
    from segdash.metrics.specs import list_metrics

    options = {s.per_image: s.ranking for s in list_metrics(per_image=True) if s.per_image in evaluation.per_image}
    first = {DEFAULT_RANKING: options.pop(DEFAULT_RANKING)} if DEFAULT_RANKING in options else {}
    return {**first, **options}


def ranked_images(evaluation, metric: str = DEFAULT_RANKING):
    """Per-image scores, worst first (undefined scores last): lowest first, or highest where the metric's spec
    says lower is better (ECE, overconfidence, distances)."""
    metric = metric if metric in evaluation.per_image else "mean_iou"
    return evaluation.worst(None, by=metric).reset_index(drop=True)


def current_job(choice: SidebarChoice, split: str, limit: int, distances: bool) -> jobs.Job | None:
    """The evaluation of the chosen model on ``split`` with these settings, running or done (this visitor's)."""
    return jobs.job_board().get(evaluation_key(choice, split, limit, distances))


def start_evaluation(choice: SidebarChoice, split: str, limit: int, distances: bool) -> jobs.Job:
    """Start (or find) the background evaluation of the chosen model on ``split``."""
    from segdash.infer.evaluate import evaluate
    from segdash.models.checkpoint import check_compatible
    from segdash.ui import dataset_classes

    ds = choice.dataset
    check_compatible(cache.checkpoint_meta(choice.model_choice.path), ds)
    predictor = dataset_classes.evaluation_predictor(choice)  # in the dataset's classes, mapped by name if need be
    count = min(limit, len(ds.ids(split))) if limit else len(ds.ids(split))  # limit 0: all images

    def work(job: jobs.Job):
        job.report(0, count)
        evaluation = evaluate(ds, split, predictor, progress=job.report, should_stop=job.should_stop,
                              distances=distances, limit=limit or None)  # the images `segdash evaluate --limit` scores
        return dataset_classes.with_summary(evaluation, predictor)

    label = f"{choice.dataset_choice.label} / {split} ({count} images)"
    return jobs.job_board().start(evaluation_key(choice, split, limit, distances), label, work, _tags(choice, split))
