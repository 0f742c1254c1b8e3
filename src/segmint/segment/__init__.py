"""Segmentation: scaling, clustering with automatic k, micro-segments (tastes across the
segments, named and explained against all customers), profiles, names, rules.

Pure in-memory code: tables or arrays in, results out (no SQL, no files, no printing).

Typical use::

    from segmint.segment import Segmenter, describe_segments

    seg = Segmenter(random_state=0).fit(features)          # features in original units
    for d in describe_segments(features, seg.labels_):
        print(d.name, d.size, d.rule)
"""

from __future__ import annotations

from segmint.segment.assign import SegmentGeometry, assign, kmeans_soft_assignments
from segmint.segment.cluster import Segmenter
from segmint.segment.describe import SegmentDescription, describe_segments
from segmint.segment.metrics import eta_squared
from segmint.segment.micro import MicroSegmentDescription, describe_micro_segments
from segmint.segment.naming import (
    describe_segment,
    name_segments,
    name_traits,
    trait_holds,
    trait_words,
)
from segmint.segment.profile import SegmentProfiles, profile_segments
from segmint.segment.rfm import RFM_GROUPS, quantile_scores, rfm_group, rfm_groups_n, rfm_scores
from segmint.segment.rules import Condition, SegmentRule, segment_rules
from segmint.segment.scaling import FeatureScaler, choose_transform
from segmint.segment.stability import resample_stability, stability_score

__all__ = [
    "RFM_GROUPS",
    "Condition",
    "FeatureScaler",
    "MicroSegmentDescription",
    "SegmentDescription",
    "SegmentProfiles",
    "SegmentGeometry",
    "SegmentRule",
    "Segmenter",
    "assign",
    "choose_transform",
    "describe_micro_segments",
    "describe_segment",
    "describe_segments",
    "eta_squared",
    "kmeans_soft_assignments",
    "name_segments",
    "name_traits",
    "profile_segments",
    "quantile_scores",
    "resample_stability",
    "rfm_group",
    "rfm_groups_n",
    "rfm_scores",
    "segment_rules",
    "trait_holds",
    "stability_score",
    "trait_words",
]

from segmint.segment.persist import (  # noqa: E402
    LiveSegmenter,
    segmenter_from_dict,
    segmenter_to_dict,
)

__all__ += ["LiveSegmenter", "segmenter_from_dict", "segmenter_to_dict"]
