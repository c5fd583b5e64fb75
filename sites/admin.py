from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from sites.models import Center

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

    @admin.display(description="roles")
    def roles(self, user) -> str:
        return ", ".join(group.name for group in user.groups.all())

    @admin.display(description="centers")
    def center_codes(self, user) -> str:
        return ", ".join(center.code for center in user.centers.all())


admin.site.unregister(User)
admin.site.register(User, StudyUserAdmin)
