"""Replayed sequences' n-step targets by hand, step by step (the recurrent replay tests)."""


def sequence_target_by_hand(seq, b, t, n, gamma, last_step, value):
    """Sequence ``b``'s n-step target at window step ``t``: rewards summed until an
    episode ends, the n-th step or the window's ``last_step``; 0 after termination, else
    ``value(s)`` (the bootstrap at step s's true successor) discounted."""
    total = 0.0
    for k in range(n):
        s = t + k
        total += gamma ** k * float(seq.reward[b, s])
        if bool(seq.terminated[b, s]):
            return total
        if bool(seq.truncated[b, s]) or k == n - 1 or s == last_step:
            return total + gamma ** (k + 1) * value(s)
