"""Privacy: federated training, differentially private SGD, id masking, opt-out and unlearning.

    federated   FederatedMF: one client per user, FedAvg of the item updates
    dp          DPBiasedMF (DP-SGD, example-level DP), compute_epsilon, noise_multiplier_for_epsilon
    masking     IdMasker: HMAC-SHA256 masks of raw ids on ingest
    consent     opt_out(data, user_ids), forget(model, train, user_id, mode)
    UserPrivacy each user's choices (not trained on, not personalised, not named in explanations),
                taken by every model's fit(train, privacy=...) (nanorec.models.base)
"""

from nanorec.models.base import UserPrivacy

from nanorec.privacy.consent import ForgetResult, forget, opt_out
from nanorec.privacy.dp import DPBiasedMF, compute_epsilon, noise_multiplier_for_epsilon
from nanorec.privacy.federated import FederatedMF
from nanorec.privacy.masking import IdMasker

__all__ = [
    "DPBiasedMF",
    "FederatedMF",
    "ForgetResult",
    "IdMasker",
    "UserPrivacy",
    "compute_epsilon",
    "forget",
    "noise_multiplier_for_epsilon",
    "opt_out",
]
