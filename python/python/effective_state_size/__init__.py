"""Effective state-size (ESS) of causal linear sequence operators.

A causal sequence layer maps inputs ``u_0..u_{L-1}`` to outputs by a lower-
triangular matrix, ``y = T u``. At step ``i`` the Hankel block ``H_i = T[i:, :i]``
maps the past to the future; its rank is the smallest state that can carry the
past across step ``i``: the layer's *effective state size*. This package computes
ESS profiles of NumPy arrays and PyTorch tensors with the Rust crate
``effective-state-size``::

    import effective_state_size as ess
    p = ess.entropy(attn)                      # attn: (heads, L, L), causal
    p = ess.tolerance(ess.mamba(A, delta, B, C), rel=1e-3)
    p.values, p.indices, p.mean, p.to_dict()

Entry points: ``entropy``, ``tolerance``, ``profiles``, ``plan``, ``verify``,
``singular_values``, ``over_inputs``, ``tolerance_sweep``, ``gradient``,
``reduce``; ``Profile.marker_modulation``, ``Profile.normalized``. Operators: ``dense``,
``softmax_attention``, ``linear_attention``, ``decayed_linear_attention``,
``gated_linear_attention``, ``delta_net``, ``mamba``, ``mamba2``, ``ssd``,
``lti_state_space``, ``time_varying_state_space``, ``fir_convolution``,
``long_convolution``, ``gated_convolution``. Every error of the library is an
``EssError`` (a ``ValueError``). See ``docs/python.md`` in the repository.
"""

from collections.abc import Sequence as _Sequence

from ._native import (
    DEFAULT_MEMORY_BUDGET,
    BatchProfile,
    EssError,
    Gradient,
    MarkerModulation,
    Operator,
    Plan,
    Profile,
    Profiles,
    Reduction,
    Tolerance,
    ToleranceSweep,
    Verification,
    __version__,
    decayed_linear_attention,
    delta_net,
    dense,
    entropy,
    fir_convolution,
    gated_convolution,
    gated_linear_attention,
    gradient,
    linear_attention,
    long_convolution,
    lti_state_space,
    mamba,
    mamba2,
    over_inputs,
    plan,
    profiles,
    reduce,
    singular_values,
    softmax_attention,
    ssd,
    time_varying_state_space,
    tolerance,
    tolerance_sweep,
    verify,
)

_Sequence.register(Profiles)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "BatchProfile",
    "EssError",
    "Gradient",
    "MarkerModulation",
    "Operator",
    "Plan",
    "Profile",
    "Profiles",
    "Reduction",
    "Tolerance",
    "ToleranceSweep",
    "Verification",
    "__version__",
    "decayed_linear_attention",
    "delta_net",
    "dense",
    "entropy",
    "fir_convolution",
    "gated_convolution",
    "gated_linear_attention",
    "gradient",
    "linear_attention",
    "long_convolution",
    "lti_state_space",
    "mamba",
    "mamba2",
    "over_inputs",
    "plan",
    "profiles",
    "reduce",
    "singular_values",
    "softmax_attention",
    "ssd",
    "time_varying_state_space",
    "tolerance",
    "tolerance_sweep",
    "verify",
]
