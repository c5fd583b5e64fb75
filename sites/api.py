"""REST API of centers (the centers the user may see: a coordinator, only their own) and of
the user's own API tokens."""

from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from sites.auth import otp_code_verify, two_factor_required
from sites.models import ApiToken, Center
from sites.selectors import api_token_list_for_user, center_list_for_user
from sites.services import api_token_create, api_token_revoke


class CenterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Center
        fields = ["code", "name", "city", "is_active"]


@extend_schema_view(list=extend_schema(tags=["centers"]), retrieve=extend_schema(tags=["centers"]))
class CenterViewSet(viewsets.ReadOnlyModelViewSet):
    """Centers you may see, by code. Administrators manage centers in the admin site."""

    serializer_class = CenterSerializer
    lookup_field = "code"
    lookup_value_regex = "[A-Z]{2}[0-9]{2}"
    filterset_fields = ["is_active"]

    def get_queryset(self):
        return center_list_for_user(user=self.request.user).order_by("code")


# --- API tokens ---------------------------------------------------------------------------


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    otp_code = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=10,
                                     help_text="The current code of your authenticator, when two-factor sign-in "
                                               "is required.")
    name = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=100,
                                 help_text="A name to recognise the token by in your list of tokens.")

    def validate(self, attrs):
        user = authenticate(request=self.context["request"], username=attrs["username"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError(_("Unable to sign in with the credentials given."), code="authorization")
        if two_factor_required() and otp_code_verify(user=user, otp_code=attrs.get("otp_code", "")) is None:
            raise serializers.ValidationError({"otp_code": _(
                "Give the current code of your authenticator (set up two-factor sign-in in the browser first).")})
        attrs["user"] = user
        return attrs


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


TOKEN_RESPONSE = inline_serializer("NewToken", fields={
    "token": serializers.CharField(help_text="The secret: shown this once, never stored."),
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "expires_at": serializers.DateTimeField(),
})


class TokenView(APIView):
    """POST username and password → a new API token (its secret is in this answer only).
    It expires after the configured lifetime and ends with a password change or a revoke."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(tags=["auth"], request=TokenObtainSerializer, responses={200: TOKEN_RESPONSE}, auth=[])
    def post(self, request):
        serializer = TokenObtainSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, secret = api_token_create(user=serializer.validated_data["user"],
                                         name=serializer.validated_data.get("name", ""))
        return Response({"token": secret, "id": token.pk, "name": token.name, "expires_at": token.expires_at})


class TokenRevokeView(APIView):
    """POST, authenticated by a token → revokes that token."""

    @extend_schema(tags=["auth"], request=None, responses={204: None})
    def post(self, request):
        if not isinstance(request.auth, ApiToken):
            raise ValidationError(_("Send the token to revoke in the Authorization header, or revoke a token "
                                    "by its id with DELETE /api/auth/tokens/<id>/."))
        api_token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(list=extend_schema(tags=["auth"]), destroy=extend_schema(tags=["auth"]))
class ApiTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your valid API tokens (never their secrets); DELETE one to revoke it. New tokens come
    from POST /api/auth/token/ or the "API tokens" page."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # the schema's model; the list comes from the selector
    pagination_class = None
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return api_token_list_for_user(user=self.request.user)

    def destroy(self, request, pk=None):
        if not api_token_revoke(user=request.user, token_id=int(pk)):
            raise NotFound
        return Response(status=status.HTTP_204_NO_CONTENT)
