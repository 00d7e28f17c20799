"""kubeflow_runner.py compiles the Vertex AI Pipelines spec offline; checks its content.

The network is cut off and no credentials are reachable while compiling.
"""

import importlib
import json
import os
import socket

import pytest
from google.protobuf import json_format

import kubeflow_runner
from models import trainer
from pipeline import pipeline

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = "higgs-project"
REGION = "us-central1"
ROOT = "gs://higgs-bucket/root"
IMAGE = "us-central1-docker.pkg.dev/higgs-project/images/higgs-tfx:1.0"
TPU_IMAGE = "us-central1-docker.pkg.dev/higgs-project/images/higgs-tfx-tpu:1.0"
TRAIN_DATA = "gs://higgs-bucket/data/training.csv"
TEST_DATA = "gs://higgs-bucket/data/test.csv"

# Every component of the pipeline; the Resolver compiles to two tasks.
TASKS = {
    "TrainingExampleGen",
    "TestExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "AnomalyGate",
    "Transform",
    "Trainer",
    "LastBlessedModel-model-resolver",
    "LastBlessedModel-model-blessing-resolver",
    "Evaluator",
    "Pusher",
    "SubmissionWriter",
}
# The steps that run Beam pipelines, on Dataflow when asked.
BEAM_STEPS = (
    "TrainingExampleGen",
    "TestExampleGen",
    "StatisticsGen",
    "Transform",
    "Evaluator",
    "SubmissionWriter",
)
DATAFLOW_ARGS = [
    "--runner=DataflowRunner",
    f"--project={PROJECT}",
    f"--region={REGION}",
    f"--temp_location={ROOT}/tmp",
    f"--sdk_container_image={IMAGE}",
    "--experiments=use_runner_v2",
]


def _argv(output: str, *extra: str) -> list[str]:
    return [
        "--project",
        PROJECT,
        "--region",
        REGION,
        "--pipeline-root",
        ROOT,
        "--image",
        IMAGE,
        "--train-data",
        TRAIN_DATA,
        "--test-data",
        TEST_DATA,
        "--output",
        output,
        *extra,
    ]


def _no_network(*args, **kwargs):
    raise AssertionError(f"network access while compiling: {args}")


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """No socket may connect or resolve a name, and no credentials are found."""
    home = str(tmp_path_factory.mktemp("no_credentials"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket, "create_connection", _no_network)
        patch.setattr(socket, "getaddrinfo", _no_network)
        patch.setenv("GOOGLE_APPLICATION_CREDENTIALS", os.path.join(home, "none.json"))
        patch.setenv("CLOUDSDK_CONFIG", home)
        patch.setenv("HOME", home)
        patch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
        yield


def _compile(folder, *extra: str) -> dict:
    output = os.path.join(str(folder), "pipeline.json")
    assert kubeflow_runner.main(_argv(output, *extra)) == 0
    with open(output) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def tpu_dataflow_spec(offline, tmp_path_factory):
    return _compile(
        tmp_path_factory.mktemp("tpu"),
        "--model",
        "gru",
        "--tpu",
        "v5litepod-8",
        "--dataflow",
    )


@pytest.fixture(scope="module")
def plain_spec(offline, tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("plain"))


def _tasks(spec: dict) -> dict:
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def _containers(spec: dict) -> dict:
    """Each container step's container, by task name."""
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    return {
        name[: -len("_executor")]: executor["container"]
        for name, executor in executors.items()
        if "container" in executor
    }


def _parameter(spec: dict, task: str, name: str):
    value = _tasks(spec)[task]["inputs"]["parameters"][name]["runtimeValue"]
    return next(iter(value["constantValue"].values()))


def _executor_class(container: dict) -> str:
    args = container["args"]
    return args[args.index("--executor_class_path") + 1]


@pytest.mark.parametrize("spec_name", ["tpu_dataflow_spec", "plain_spec"])
def test_every_component_is_in_the_spec(request, spec_name):
    spec = request.getfixturevalue(spec_name)
    assert set(_tasks(spec)) == TASKS
    assert spec["pipelineSpec"]["pipelineInfo"]["name"] == "higgs-tfx"
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == ROOT


@pytest.mark.parametrize("spec_name", ["tpu_dataflow_spec", "plain_spec"])
def test_every_step_runs_in_the_pipeline_image(request, spec_name):
    containers = _containers(request.getfixturevalue(spec_name))
    assert set(containers) == TASKS - {
        "LastBlessedModel-model-resolver",
        "LastBlessedModel-model-blessing-resolver",
    }
    assert {container["image"] for container in containers.values()} == {IMAGE}


def test_trainer_is_a_vertex_job_on_the_tpu(tpu_dataflow_spec):
    trainer_container = _containers(tpu_dataflow_spec)["Trainer"]
    assert _executor_class(trainer_container) == (
        "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    )
    config = json.loads(_parameter(tpu_dataflow_spec, "Trainer", "custom_config"))
    assert config["ai_platform_enable_vertex"] is True
    assert config["ai_platform_vertex_region"] == REGION
    job = config["ai_platform_training_args"]
    assert job["project"] == PROJECT
    assert job["job_spec"]["worker_pool_specs"] == [
        {
            "machine_spec": {
                "machine_type": "ct5lp-hightpu-8t",
                "accelerator_type": "TPU_V5_LITEPOD",
                "accelerator_count": 8,
                "tpu_topology": "2x4",
            },
            "replica_count": 1,
            # By default the pipeline image's name with "-tpu", same tag.
            "container_spec": {"image_uri": TPU_IMAGE},
        }
    ]
    # On the TPU VM the trainer asks for the local TPU; the model settings
    # travel as locally.
    assert config[trainer.TPU_ADDRESS_KEY] == "local"
    assert config[trainer.MODEL_TYPE_KEY] == "gru"
    assert config[trainer.BATCH_SIZE_KEY] == trainer.DEFAULT_BATCH_SIZE


def test_without_a_tpu_the_trainer_runs_in_the_pipeline(plain_spec):
    assert _executor_class(_containers(plain_spec)["Trainer"]) == (
        "tfx.components.trainer.executor.GenericExecutor"
    )
    config = json.loads(_parameter(plain_spec, "Trainer", "custom_config"))
    assert not any(key.startswith("ai_platform") for key in config)
    assert trainer.TPU_ADDRESS_KEY not in config
    assert config[trainer.MODEL_TYPE_KEY] == "lstm"


def test_v3_8_machine_spec():
    config = kubeflow_runner.vertex_trainer_config(PROJECT, REGION, "v3-8", TPU_IMAGE)
    pool = config["ai_platform_training_args"]["job_spec"]["worker_pool_specs"][0]
    assert pool["machine_spec"] == {
        "machine_type": "cloud-tpu",
        "accelerator_type": "TPU_V3",
        "accelerator_count": 8,
    }
    assert pool["container_spec"] == {"image_uri": TPU_IMAGE}


def test_beam_steps_run_on_dataflow_when_asked(tpu_dataflow_spec):
    containers = _containers(tpu_dataflow_spec)
    for step in BEAM_STEPS:
        args = containers[step]["args"]
        for arg in DATAFLOW_ARGS:
            assert arg in args, (step, arg)


def test_beam_steps_stay_in_their_container_otherwise(plain_spec):
    for step, container in _containers(plain_spec).items():
        assert not any("Dataflow" in arg for arg in container["args"]), step
        assert "--direct_running_mode=in_memory" in container["args"], step


def test_project_functions_are_named_by_module_path(plain_spec):
    assert _parameter(plain_spec, "Transform", "preprocessing_fn") == (
        pipeline.PREPROCESSING_FN
    )
    assert _parameter(plain_spec, "Trainer", "run_fn") == pipeline.RUN_FN
    eval_config = json.loads(_parameter(plain_spec, "Evaluator", "eval_config"))
    modules = [
        metric.get("module")
        for spec in eval_config["metrics_specs"]
        for metric in spec["metrics"]
    ]
    assert pipeline.AMS_METRIC_MODULE in modules

    containers = _containers(plain_spec)
    custom = {
        "TrainingExampleGen": "components.challenge_example_gen.LabelledEventsExecutor",
        "TestExampleGen": "components.challenge_example_gen.UnlabelledEventsExecutor",
        "AnomalyGate": "components.anomaly_gate.AnomalyGate_Executor",
        "SubmissionWriter": "components.submission.SubmissionWriter_Executor",
    }
    for step, class_path in custom.items():
        assert _executor_class(containers[step]) == class_path
    # Every path resolves in the installed project, as it must in the image.
    for path in [pipeline.PREPROCESSING_FN, pipeline.RUN_FN, *custom.values()]:
        module, name = path.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name), path
    importlib.import_module(pipeline.AMS_METRIC_MODULE)


def test_schema_is_read_inside_the_image(plain_spec):
    assert _parameter(plain_spec, "ImportSchemaGen", "schema_file") == (
        "/pipeline/schema/schema.pbtxt"
    )
    # Both images keep the project where the runner says.
    for dockerfile in ("Dockerfile", "Dockerfile.tpu"):
        with open(os.path.join(REPO_ROOT, dockerfile)) as handle:
            lines = handle.read().splitlines()
        assert f"WORKDIR {kubeflow_runner.IMAGE_PROJECT_DIR}" in lines, dockerfile
        assert "COPY schema schema" in lines, dockerfile


def test_gating_and_push_as_locally(plain_spec):
    eval_config = json.loads(_parameter(plain_spec, "Evaluator", "eval_config"))
    local = json_format.MessageToDict(
        pipeline.eval_config(min_auc=0.75, min_ams=1.0),
        preserving_proto_field_name=True,
    )
    assert eval_config == local
    # Only a blessed model is pushed: the Pusher reads the Evaluator's blessing.
    pusher_inputs = _tasks(plain_spec)["Pusher"]["inputs"]["artifacts"]
    assert pusher_inputs["model_blessing"]["taskOutputArtifact"] == {
        "outputArtifactKey": "blessing",
        "producerTask": "Evaluator",
    }
    destination = json.loads(_parameter(plain_spec, "Pusher", "push_destination"))
    assert destination == {"filesystem": {"base_directory": f"{ROOT}/serving_model"}}
    assert _parameter(plain_spec, "SubmissionWriter", "submission_path") == (
        f"{ROOT}/submission.csv"
    )


def test_event_files_are_read_from_their_folder(plain_spec):
    assert _parameter(plain_spec, "TrainingExampleGen", "input_base") == (
        "gs://higgs-bucket/data"
    )
    config = json.loads(_parameter(plain_spec, "TestExampleGen", "input_config"))
    assert config == {"splits": [{"name": "test", "pattern": "test.csv"}]}


@pytest.mark.parametrize(
    "image, tpu_image",
    [
        ("gcr.io/p/higgs-tfx:1.0", "gcr.io/p/higgs-tfx-tpu:1.0"),
        ("gcr.io/p/higgs-tfx", "gcr.io/p/higgs-tfx-tpu"),
        ("localhost:5000/higgs-tfx", "localhost:5000/higgs-tfx-tpu"),
        ("gcr.io/p/higgs-tfx@sha256:abc", "gcr.io/p/higgs-tfx-tpu@sha256:abc"),
    ],
)
def test_tpu_image_name(image, tpu_image):
    assert kubeflow_runner.tpu_image_for(image) == tpu_image


def test_pipeline_root_must_be_on_gcs():
    with pytest.raises(SystemExit):
        kubeflow_runner.parse_args(
            [arg if arg != ROOT else "/tmp/root" for arg in _argv("pipeline.json")]
        )


def test_submit_creates_a_vertex_pipeline_job(offline, tmp_path, monkeypatch, capsys):
    from google.cloud import aiplatform

    created = []

    class FakePipelineJob:
        """Records what would be sent to Vertex AI."""

        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.submitted_as = "not submitted"
            created.append(self)

        def submit(self, service_account=None):
            self.submitted_as = service_account

        resource_name = "projects/123/locations/us-central1/pipelineJobs/higgs-tfx-1"
        name = "higgs-tfx-1"
        project = PROJECT
        location = REGION

    monkeypatch.setattr(aiplatform, "PipelineJob", FakePipelineJob)
    output = str(tmp_path / "pipeline.json")
    argv = _argv(output, "--submit", "--service-account", "runner@p.iam")
    assert kubeflow_runner.main(argv) == 0

    (job,) = created
    assert job.kwargs == {
        "display_name": "higgs-tfx",
        "template_path": output,
        "pipeline_root": ROOT,
        "project": PROJECT,
        "location": REGION,
    }
    assert job.submitted_as == "runner@p.iam"
    printed = capsys.readouterr().out
    assert FakePipelineJob.resource_name in printed
    assert (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1"
        f"/pipelines/runs/higgs-tfx-1?project={PROJECT}"
    ) in printed


@pytest.mark.parametrize("members", ["0", "1"])
def test_fewer_than_two_members_are_refused(members, capsys):
    with pytest.raises(SystemExit):
        kubeflow_runner.parse_args([*_argv("pipeline.json"), "--members", members])
    assert "at least 2" in capsys.readouterr().err


def test_members_reach_the_trainer():
    args = kubeflow_runner.parse_args([*_argv("pipeline.json"), "--members", "3"])
    assert kubeflow_runner.settings_from_args(args).members == 3
