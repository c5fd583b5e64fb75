from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from sites.models import ApiToken, ApiTokenRevocation, Center
from sites.services import api_token_revoke_all

User = get_user_model()


@admin.register(Center)
class CenterAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "city", "is_active", "last_sequence"]
    search_fields = ["code", "name", "city"]
    list_filter = ["is_active"]
    filter_horizontal = ["members"]
    readonly_fields = ["last_sequence"]


class CenterMembershipInline(admin.TabularInline):
    model = Center.members.through
    extra = 0
    verbose_name = "center"
    verbose_name_plural = "centers"


class StudyUserAdmin(UserAdmin):
    inlines = [CenterMembershipInline]
    list_display = ["username", "email", "is_active", "roles", "center_codes"]
    list_filter = ["groups", "is_active", "is_staff"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups", "centers")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            api_token_revoke_all(user=obj, reason=ApiTokenRevocation.DEACTIVATED)

    @admin.display(description="roles")
    def roles(self, user) -> str:
        return ", ".join(group.name for group in user.groups.all())

    @admin.display(description="centers")
    def center_codes(self, user) -> str:
        return ", ".join(center.code for center in user.centers.all())


admin.site.unregister(User)
admin.site.register(User, StudyUserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read only: tokens are made and revoked by their owners; deactivating a user revokes theirs."""

    list_display = ["user", "name", "kind", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at",
                    "revoked_reason"]
    list_filter = ["kind", "revoked_reason"]
    search_fields = ["user__username", "name", "prefix"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
