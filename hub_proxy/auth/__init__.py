"""Who is calling the hub, and what they may see and do.

Authentication (:mod:`hub_proxy.auth.authenticator` and the mechanisms it
composes) turns an HTTP request's credentials into a :class:`Principal`;
authorization (:mod:`hub_proxy.auth.policy`) decides, from the AccessPolicies
in force, what that principal may list, call, read and get.  Nothing here
knows about transports or upstreams: the hub's application asks, and acts on
the answer.
"""

from hub_proxy.auth.errors import AuthenticationError, AuthError
from hub_proxy.auth.principal import ANONYMOUS, Principal

__all__ = ["ANONYMOUS", "AuthError", "AuthenticationError", "Principal"]
