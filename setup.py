"""Package list for setuptools (the metadata lives in pyproject.toml).

The top-level ``kernels/`` folder installs as ``fedsim_kernels``: the Hugging Face Hub publishes a
package named ``kernels`` that transformers imports, and one import name cannot serve both.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["fedsim*", "analysis*", "conf*", "scenarios*"]) + ["fedsim_kernels"],
    package_dir={"fedsim_kernels": "kernels"},
)
