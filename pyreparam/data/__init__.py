"""Corpora and features: manifests, corpus adapters, the feature cache,
normalization and augmentation."""
from pyreparam.data.augment import spec_augment
from pyreparam.data.cache import FeatureCache, load_features
from pyreparam.data.corpora import CORPORA, LABELS, scan_corpus
from pyreparam.data.manifest import ManifestError, Utterance, read_manifest, write_manifest
from pyreparam.data.normalize import Normalizer

__all__ = ["CORPORA", "LABELS", "FeatureCache", "ManifestError", "Normalizer", "Utterance",
           "load_features", "read_manifest", "scan_corpus", "spec_augment",
           "write_manifest"]
