"""REST API of centers: the centers the user may see (a coordinator, only their own)."""

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from sites.models import Center
from sites.selectors import center_list_for_user


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

TOKEN_RESPONSE = inline_serializer("Token", fields={"token": serializers.CharField()})


def _token_revoke(request) -> Response:
    Token.objects.filter(user=request.user).delete()
    return Response(status=status.HTTP_204_NO_CONTENT)


class TokenView(ObtainAuthToken):
    """POST username and password → your API token (the same one until revoked).
    DELETE (authenticated) → revokes your token, as POST /api/auth/token/revoke/ does."""

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    @extend_schema(tags=["auth"], responses={200: TOKEN_RESPONSE}, auth=[])
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    @extend_schema(tags=["auth"], responses={204: None})
    def delete(self, request, *args, **kwargs):
        return _token_revoke(request)


class TokenRevokeView(APIView):
    """POST (authenticated) → revokes your API token."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], request=None, responses={204: None})
    def post(self, request):
        return _token_revoke(request)
