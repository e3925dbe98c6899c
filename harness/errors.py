"""Error types the CLI maps to exit statuses (2 = bad input, 1 = failure during work)."""


class BadInput(ValueError):
    """Input the user can fix: the message says what is wrong and what to do."""
