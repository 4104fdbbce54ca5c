from django.contrib import admin

from helpdesk.models import Ticket


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["subject", "status", "due", "assignee"]
    list_filter = ["status"]
