from chores.models import Chore
from django.contrib import admin


@admin.register(Chore)
class ChoreAdmin(admin.ModelAdmin):
    list_display = ["title", "due_on", "done", "creator"]
    filter_horizontal = ["assignees"]
