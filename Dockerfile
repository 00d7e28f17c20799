# The pipeline image: runs every step on Vertex AI Pipelines, and is the SDK
# container of the Dataflow workers when the Beam steps run there.
#
#   docker build -t REGISTRY/higgs-tfx:TAG .      (in the repo root)
#
# The base image's entrypoint, Beam's /opt/apache/beam/boot, is kept: Dataflow
# starts its workers through it, and Vertex AI Pipelines sets its own command.
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# kubeflow_runner.py's --schema-dir default (/pipeline/schema) points here.
WORKDIR /pipeline

# Only what the pipeline runs; the rest of the checkout (.venv, outputs/,
# tests) stays out of the image.
COPY setup.py pyproject.toml ./
COPY pipeline pipeline
COPY components components
COPY models models
COPY schema schema
COPY local_runner.py kubeflow_runner.py ./

# --no-deps: the base image already holds the stack the lock pins (tfx 1.16.0,
# tensorflow 2.16.2, tf-keras 2.16.0, keras 3.6.0, apache-beam 2.59.0, ...),
# installed and tested together by TFX; resolving again could only swap parts
# of it, and Dataflow workers must run the very Beam the launcher pickled with.
# Editable, so the code is imported from /pipeline with schema/ beside it.
# The import at the end fails the build, not a pipeline run, if a module or a
# dependency is missing.
RUN python -m pip install --no-cache-dir --no-deps -e . \
    && python -c "import kubeflow_runner, components.submission, models.trainer"
