"""Information fragments: compare latent channels across VAE ensembles (Murphy et al., 2024).

Channels are fingerprinted by the Bhattacharyya coefficients between the posteriors of a fixed
sample of points; from fingerprints come I(U;X), I(U;V), NMI and VI (bits) for all pairs at once,
the channel census, OPTICS hotspots and ensemble fusion. The core needs only (mu, logvar) arrays.
Formulas: the paper (arXiv:2405.21042); guide: docs/fragments.md.
"""

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "fingerprint": "ChannelSet FingerprintSample GaussianChannels LabelChannels check_same_sample "
        "from_variances validate_posteriors",
        "information": "PairwiseInformation channel_information monte_carlo_information "
        "pairwise_information pairwise_loop",
    },
)
