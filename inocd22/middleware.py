"""Project-wide HTTP middleware."""

from django.utils.cache import add_never_cache_headers

API_PREFIX = "/api/"


class NoStoreMiddleware:
    """`Cache-Control: no-store` (and its older equivalents) on every answer to a signed-in
    user and on every API answer: they may carry patients' identifiers, a token's secret or
    data a shared computer must not keep. The sign-in page and static files stay cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) or request.user.is_authenticated:
            add_never_cache_headers(response)
        return response
