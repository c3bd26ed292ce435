"""Information fragments: compare latent channels across VAE ensembles (Murphy et al., 2024).

Channels are fingerprinted by the Bhattacharyya coefficients between the posteriors of a fixed
sample of points; from fingerprints come I(U;X), I(U;V), NMI and VI (bits) for all pairs at once,
the channel census, OPTICS hotspots and ensemble fusion. The core needs only (mu, logvar) arrays.
Formulas: /work/shared/spec/fragments.md; guide: docs/fragments.md.
"""

from disentkit.fragments.fingerprint import (
    ChannelSet,
    FingerprintSample,
    GaussianChannels,
    LabelChannels,
    check_same_sample,
    from_variances,
    validate_posteriors,
)
from disentkit.fragments.information import (
    PairwiseInformation,
    channel_information,
    monte_carlo_information,
    pairwise_information,
    pairwise_loop,
)

__all__ = [
    "ChannelSet",
    "FingerprintSample",
    "GaussianChannels",
    "LabelChannels",
    "PairwiseInformation",
    "channel_information",
    "check_same_sample",
    "from_variances",
    "monte_carlo_information",
    "pairwise_information",
    "pairwise_loop",
    "validate_posteriors",
]
