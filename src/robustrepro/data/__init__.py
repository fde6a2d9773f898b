"""Datasets: the registry, download and verification, readers of the original formats, synthetic
stand-ins, and the prepared .npz that every run loads.

Importing this package does not import torch: Snakemake imports it while parsing the workflow.
"""

from robustrepro.data.download import fetch, verify_present
from robustrepro.data.prepare import load_dataset, prepare
from robustrepro.data.prepared import Prepared, load_prepared, save_prepared
from robustrepro.data.registry import DATASETS, DatasetInfo, RawFile, dataset_info

__all__ = ["DATASETS", "DatasetInfo", "RawFile", "dataset_info", "fetch", "verify_present", "load_dataset",
           "prepare", "Prepared", "load_prepared", "save_prepared"]
