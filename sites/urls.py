from django.urls import path

from sites import views

app_name = "account"

urlpatterns = [
    path("two-factor/", views.two_factor_verify_view, name="two-factor-verify"),
    path("two-factor/setup/", views.two_factor_setup_view, name="two-factor-setup"),
    path("tokens/", views.api_token_list_view, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
]
