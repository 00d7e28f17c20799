"""Compiles the pipeline for Vertex AI Pipelines and, with --submit, submits it.

The pipeline is the one local_runner.py runs; only where each step runs differs.
"""

import argparse
import os
import sys

from absl import logging
from tfx import v1 as tfx

from models import trainer
from pipeline.pipeline import (
    PipelineSettings,
    add_training_arguments,
    create_pipeline,
    training_settings,
)

# Where the images keep the project (WORKDIR of Dockerfile and Dockerfile.tpu):
# ImportSchemaGen reads the schema there, inside the container, at run time.
IMAGE_PROJECT_DIR = "/pipeline"
DEFAULT_SCHEMA_DIR = f"{IMAGE_PROJECT_DIR}/schema"

# Vertex AI machine specs of the TPUs the Trainer may run on. Each is one TPU
# VM host, so one replica of the training container drives all its chips.
TPU_MACHINE_SPECS = {
    "v3-8": {
        "machine_type": "cloud-tpu",
        "accelerator_type": "TPU_V3",
        "accelerator_count": 8,
    },
    "v5litepod-8": {
        "machine_type": "ct5lp-hightpu-8t",
        "accelerator_type": "TPU_V5_LITEPOD",
        "accelerator_count": 8,
        "tpu_topology": "2x4",
    },
}
NO_TPU = "none"

# Names under which the pushed model and the submission land, below the root.
SERVING_MODEL_FOLDER = "serving_model"
SUBMISSION_FILE = "submission.csv"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", required=True, help="Google Cloud project")
    parser.add_argument("--region", required=True, help="e.g. us-central1")
    parser.add_argument(
        "--pipeline-root",
        required=True,
        help="gs:// folder for the pipeline's artifacts, pushed model and submission",
    )
    parser.add_argument(
        "--image", required=True, help="the pipeline image (built from Dockerfile)"
    )
    parser.add_argument(
        "--train-data", required=True, help="training.csv or .zip, on GCS"
    )
    parser.add_argument("--test-data", required=True, help="test.csv or .zip, on GCS")
    add_training_arguments(parser)
    parser.add_argument(
        "--tpu",
        choices=(*TPU_MACHINE_SPECS, NO_TPU),
        default=NO_TPU,
        help="train as a Vertex AI custom job on this TPU; 'none' trains on the "
        "pipeline's own worker",
    )
    parser.add_argument(
        "--tpu-image",
        help="training image for TPU VMs (built from Dockerfile.tpu); default: "
        "--image with '-tpu' added to its name, same tag",
    )
    parser.add_argument(
        "--dataflow",
        action="store_true",
        help="run the Beam steps on Dataflow, with --image as the SDK container",
    )
    parser.add_argument(
        "--schema-dir",
        default=DEFAULT_SCHEMA_DIR,
        help="the curated schema's folder as the pipeline image sees it",
    )
    parser.add_argument("--pipeline-name", default="higgs-tfx")
    parser.add_argument("--output", default="pipeline.json", help="the spec's path")
    parser.add_argument(
        "--submit", action="store_true", help="submit the spec to Vertex AI Pipelines"
    )
    parser.add_argument(
        "--service-account", help="service account the submitted job runs as"
    )
    args = parser.parse_args(argv)
    if not args.pipeline_root.startswith("gs://"):
        # Vertex AI Pipelines, its training jobs and Dataflow share it.
        parser.error("--pipeline-root must be a gs:// folder")
    return args


def tpu_image_for(image: str) -> str:
    """The TPU training image's default name: the pipeline image's, plus '-tpu'.

    "REGISTRY/REPO/higgs-tfx:1.0" gives "REGISTRY/REPO/higgs-tfx-tpu:1.0".
    """
    slash = image.rfind("/")
    for separator in ("@", ":"):
        cut = image.find(separator, slash + 1)
        if cut != -1:
            return f"{image[:cut]}-tpu{image[cut:]}"
    return f"{image}-tpu"


def beam_pipeline_args(
    project: str, region: str, pipeline_root: str, image: str, dataflow: bool
) -> list[str]:
    """Where the Beam steps run: on Dataflow, or in the step's own container."""
    if not dataflow:
        # As locally: one in-process worker inside the component's container.
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    return [
        "--runner=DataflowRunner",
        f"--project={project}",
        f"--region={region}",
        f"--temp_location={pipeline_root.rstrip('/')}/tmp",
        # The pipeline image holds the project's code and the exact Beam, TFT
        # and TFMA versions, so workers need no packages staged at start-up.
        f"--sdk_container_image={image}",
        "--experiments=use_runner_v2",
    ]


def vertex_trainer_config(project: str, region: str, tpu: str, tpu_image: str) -> dict:
    """custom_config that makes TFX's Vertex Trainer train on `tpu`."""
    ai_platform = tfx.extensions.google_cloud_ai_platform
    return {
        ai_platform.ENABLE_VERTEX_KEY: True,
        ai_platform.VERTEX_REGION_KEY: region,
        ai_platform.TRAINING_ARGS_KEY: {
            "project": project,
            "job_spec": {
                "worker_pool_specs": [
                    {
                        "machine_spec": dict(TPU_MACHINE_SPECS[tpu]),
                        "replica_count": 1,
                        "container_spec": {"image_uri": tpu_image},
                    }
                ]
            },
        },
        # The job's container runs on the TPU VM itself, which names its TPU
        # "local"; being explicit also makes a missing TPU an error, not a
        # silent fall-back to the CPU.
        trainer.TPU_ADDRESS_KEY: "local",
    }


def settings_from_args(args: argparse.Namespace) -> PipelineSettings:
    root = args.pipeline_root.rstrip("/")
    return PipelineSettings(
        train_data=args.train_data,
        test_data=args.test_data,
        pipeline_root=root,
        serving_model_dir=f"{root}/{SERVING_MODEL_FOLDER}",
        submission_path=f"{root}/{SUBMISSION_FILE}",
        pipeline_name=args.pipeline_name,
        **training_settings(args),
        schema_dir=args.schema_dir,
        beam_pipeline_args=beam_pipeline_args(
            args.project, args.region, root, args.image, args.dataflow
        ),
    )


def build_pipeline(args: argparse.Namespace) -> tfx.dsl.Pipeline:
    """The pipeline as Vertex AI runs it; the Trainer goes to a TPU if asked."""
    settings = settings_from_args(args)
    if args.tpu == NO_TPU:
        # Vertex AI Pipelines keeps ML Metadata itself: no connection config.
        return create_pipeline(settings)
    return create_pipeline(
        settings,
        trainer_component=tfx.extensions.google_cloud_ai_platform.Trainer,
        trainer_custom_config=vertex_trainer_config(
            args.project,
            args.region,
            args.tpu,
            args.tpu_image or tpu_image_for(args.image),
        ),
    )


def compile_spec(args: argparse.Namespace) -> str:
    """Writes the Vertex AI Pipelines spec to --output; needs no network."""
    output = os.path.abspath(args.output)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=args.image
        ),
        output_dir=os.path.dirname(output),
        output_filename=os.path.basename(output),
    )
    runner.run(build_pipeline(args))
    return output


def submit(args: argparse.Namespace, spec_path: str):
    """Submits the compiled spec as a Vertex AI pipeline job and returns it."""
    # Imported here so that compiling never loads the client.
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(
        display_name=args.pipeline_name,
        template_path=spec_path,
        pipeline_root=args.pipeline_root,
        project=args.project,
        location=args.region,
    )
    job.submit(service_account=args.service_account)
    return job


def console_link(job) -> str:
    """The job's page in the Google Cloud console."""
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{job.location}"
        f"/pipelines/runs/{job.name}?project={job.project}"
    )


def main(argv: list[str]) -> int:
    logging.set_verbosity(logging.INFO)
    args = parse_args(argv)
    spec_path = compile_spec(args)
    print(f"Pipeline spec:  {spec_path}")
    if args.submit:
        job = submit(args, spec_path)
        print(f"Pipeline job:   {job.resource_name}")
        print(f"Console:        {console_link(job)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
