"""The one exception type that means "the user can fix this": printed as one line, no traceback."""


class UserError(Exception):
    """A bad config value, a missing or corrupt file, an unknown name: the message says what to fix."""


def unknown_choice(key: str, value, choices) -> UserError:
    return UserError(f"{key}: unknown value {value!r}; choose one of: {', '.join(sorted(map(str, choices)))}")
