"""Reads the Evaluator's verdict on a candidate model and puts it in words."""

import dataclasses

import tensorflow_model_analysis as tfma


@dataclasses.dataclass
class Verdict:
    """Whether the candidate was blessed, with the figures behind the decision."""

    blessed: bool
    # Metric name -> value, for the candidate and (when there was one) the
    # last blessed model, on the whole eval split.
    candidate: dict[str, float]
    baseline: dict[str, float]
    failures: list[str]

    def describe(self) -> str:
        figures = ", ".join(
            f"{name} {value:.4f}"
            + (
                f" (last blessed {self.baseline[name]:.4f})"
                if name in self.baseline
                else ""
            )
            for name, value in sorted(self.candidate.items())
        )
        if self.blessed:
            return f"Candidate blessed: {figures or 'no figures recorded'}"
        return (
            f"Candidate NOT blessed: {'; '.join(self.failures) or 'no reason recorded'}"
            f". Figures: {figures or 'none recorded'}"
        )


def _metric_label(key) -> str:
    return key.name + ("_weighted" if key.example_weighted.value else "")


def read_verdict(evaluation_uri: str, blessed: bool) -> Verdict:
    """Reads the Evaluator's metrics and validation result for the whole eval split.

    Args:
      evaluation_uri: the Evaluator's `evaluation` output folder.
      blessed: what the Evaluator's blessing said.
    """
    candidate, baseline = {}, {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for entry in metrics.metric_keys_and_values:
            if entry.key.is_diff or not entry.value.HasField("double_value"):
                continue
            target = baseline if entry.key.model_name == "baseline" else candidate
            target[entry.key.name] = entry.value.double_value.value

    failures = []
    validation = tfma.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            name = failure.metric_key.name
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            if threshold.HasField("value_threshold"):
                floor = threshold.value_threshold.lower_bound.value
                reason = f"{name} {value:.4f} is below the floor {floor:.4f}"
            else:
                reason = f"{name} is {-value:.4f} worse than the last blessed model's"
            failures.append(reason)
    return Verdict(blessed, candidate, baseline, failures)
