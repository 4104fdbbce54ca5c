from django.contrib import admin

from workorders.models import WorkOrder


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = ["summary", "deadline", "finished_at", "owner"]
    raw_id_fields = ["owner"]
