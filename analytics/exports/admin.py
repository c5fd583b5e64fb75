"""The export log in the admin site: read-only, every export ever made."""

from django.contrib import admin

from analytics.models import ExportLog


@admin.register(ExportLog)
class ExportLogAdmin(admin.ModelAdmin):
    list_display = ["pk", "started_at", "user", "file_format", "dates", "values", "status", "size_bytes", "sha256"]
    list_filter = ["status", "file_format", "dates", "values"]
    readonly_fields = [field.name for field in ExportLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
