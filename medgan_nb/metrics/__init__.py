"""Evaluation of generated images: feature extractors, Frechet distance, memorisation checks."""

# distances on features, feature spaces, sensitivity checks, FRD
from .bootstrap import Interval, bootstrap_interval, real_vs_real_floor
from .distances import frechet_distance_from_features, kid_from_features, kernel_distance, torchmetrics_frechet_distance
from .diversity import mean_pairwise_ms_ssim, pairwise_ms_ssim
from .frd import frd_status, frechet_radiomic_distance
from .prdc import prdc
from .sensitivity import CORRUPTIONS, SensitivityTable, corrupted_sets, sensitivity_table
from .spaces import (RECOMMENDED_SPACE, SPACES, FeatureSpaceUnavailable, describe_space, feature_space,
                     inception_status, train_domain_encoder)
from .two_sample import classifier_two_sample_test, two_sample_floor
