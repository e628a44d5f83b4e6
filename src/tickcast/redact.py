"""Secrets out of what is printed: `redact_url` hides the passwords of a URL.

The cluster's `--cluster` URL carries the Redis password in any of the forms
redis-py accepts: `redis://user:pw@host`, `redis://:pw@host`, a bare
`redis://pw@host` (read as a user name by redis-py but, by habit, often a
password), `?password=pw` in the query, and the same with `rediss://` or
`unix:///path/redis.sock?password=pw`. `redact_url` hides each of them and keeps
everything else (scheme, host, port, database, other query arguments) as
written, so a log line or `/api/server` still says which Redis is meant.

No dependencies, so that the HTTP side, the cluster and the command line can
all import it.
"""

from __future__ import annotations

from urllib.parse import unquote

REDACTED = "<redacted>"
SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "secret", "token", "auth"})
"""Query arguments hidden by `redact_url` (compared without case)."""


def redact_url(value: str) -> str:
    """`value` with every password in it replaced by `<redacted>`; a string that is
    not a URL (no `://`) is returned as it is.

    Worked on the text rather than through `urlsplit`, so that nothing else of the
    URL changes, and so that a password with an unescaped `/`, `?` or `#` in it
    (which ends `urlsplit`'s user part early and would leak the rest) is hidden
    too: the user part runs to the last `@` of the whole text. That hides a
    little too much of the rare URL with an `@` in its query, never too little.
    """
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    userinfo, at, rest = rest.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        # `user:pw@` and `:pw@` keep the user name; a lone `x@` may be a password,
        # and a "user" with URL punctuation in it is more than a user name
        plain_user = colon and not any(c in user for c in "/?#&=")
        userinfo = f"{user}:{REDACTED}@" if plain_user else f"{REDACTED}@"
    rest, hash_, fragment = rest.partition("#")
    path, qmark, query = rest.partition("?")
    if query:
        query = "&".join(_redact_argument(arg) for arg in query.split("&"))
    return f"{scheme}{sep}{userinfo}{path}{qmark}{query}{hash_}{fragment}"


def _redact_argument(arg: str) -> str:
    key, eq, _value = arg.partition("=")
    if eq and unquote(key).strip().lower() in SECRET_QUERY_KEYS:
        return f"{key}={REDACTED}"
    return arg
