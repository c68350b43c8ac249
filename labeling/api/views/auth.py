"""The endpoint that hands out API tokens (knox: hashed, expiring, revocable)."""

from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth import authenticate
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView


class TokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema documents Quartet's token authentication."""

    target_class = "labeling.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": 'Token from POST /api/auth/token/, sent as "Token <token>"'}


class TokenThrottle(AnonRateThrottle):
    """Per client address: each guess costs a password hash."""

    scope = "token"


class Credentials(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="send as the header  Authorization: Token <token>")
    expiry = serializers.DateTimeField(help_text="the token stops working then; ask for a new one")


class LockedOut(exceptions.APIException):
    status_code = 429
    default_detail = "Too many failed logins for this account or address; try again later."
    default_code = "locked_out"


class TokenCreate(APIView):
    """POST username and password, get a token (shown once; only its hash is stored)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]

    @extend_schema(
        summary="Exchange a username and password for a token",
        description="The token expires (see `expiry`) and is revoked when the password changes. "
        "Failed attempts count towards a lockout of the account and of the address.",
        request=Credentials,
        responses={200: TokenOut,
                   400: OpenApiResponse(OpenApiTypes.OBJECT, description="wrong credentials"),
                   429: OpenApiResponse(OpenApiTypes.OBJECT, description="locked out or throttled")},
    )
    def post(self, request):
        serializer = Credentials(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            # django-axes sees this attempt (the request goes along) and refuses during a lockout.
            user = authenticate(request=request, **serializer.validated_data)
        except AxesBackendPermissionDenied:
            raise LockedOut() from None
        if user is None or getattr(request, "axes_locked_out", False):
            if getattr(request, "axes_locked_out", False):
                raise LockedOut()
            raise exceptions.ValidationError({"non_field_errors": ["Unable to log in with the credentials given."]})
        instance, token = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
        return Response({"token": token, "expiry": instance.expiry})
