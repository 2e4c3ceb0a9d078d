"""The API's token header, `Authorization: Token <key>`, for both kinds of token."""

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from tasks_app.services import accounts


class PersonalTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, which also takes personal tokens (made on the account page and
    kept as a hash). A subclass, so the throttle (`TokenRateThrottle`) and the API schema treat
    calls with either kind alike. A revoked token's row is gone: its next call gets 401."""

    def authenticate_credentials(self, key: str):
        if not key.startswith(accounts.TOKEN_PREFIX):
            return super().authenticate_credentials(key)
        token = accounts.token_used(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return token.user, token
