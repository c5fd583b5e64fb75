from django.contrib import admin

from analytics.models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Read-only: reports are written by the analytics services only."""

    list_display = ["pk", "cutoff", "ci_method", "status", "progress", "requested_by", "requested_at"]
    list_filter = ["status", "ci_method"]
    readonly_fields = [field.name for field in Report._meta.fields]
    exclude = ["figures", "results"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

# The export log's admin lives with the exports.
import analytics.exports.admin  # noqa: E402, F401
