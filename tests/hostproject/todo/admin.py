from django.contrib import admin

from todo.models import Item


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["name", "deadline", "assignee"]
