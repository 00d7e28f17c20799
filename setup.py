"""Installs higgs-tfx, so that TFX finds its functions by module path."""

import setuptools

setuptools.setup(
    name="higgs-tfx",
    version="0.1.0",
    description="TFX pipeline for the ATLAS Higgs Boson Machine Learning Challenge",
    python_requires=">=3.9,<3.11",
    packages=setuptools.find_packages(include=["pipeline", "components", "models"]),
    py_modules=["local_runner", "kubeflow_runner"],
)
