"""The hourly schedule in django-q2's admin: staff may pause it or move its next
run, nothing else."""

from django import forms
from django.contrib import admin
from django_q.admin import ScheduleAdmin as DjangoQScheduleAdmin
from django_q.models import Schedule

from reminders_app.schedule import FIXED_FIELDS, SCHEDULE_NAME


class ScheduleForm(forms.ModelForm):
    def clean_name(self):
        name = self.cleaned_data.get("name")
        if name == SCHEDULE_NAME and (self.instance.pk is None or self.instance.name != name):
            raise forms.ValidationError(f"{SCHEDULE_NAME!r} is the reminder job's schedule.")
        return name


admin.site.unregister(Schedule)


@admin.register(Schedule)
class ScheduleAdmin(DjangoQScheduleAdmin):
    """django-q2's schedule admin, except for the reminder job's row.

    That row's function, arguments, hook, cadence, cluster and name are read-only and it
    cannot be deleted: whoever could edit them could run any function in the worker, or
    stop the reminders without a trace. Pausing (repeats = 0) and next_run stay
    editable. No other schedule may take its name. `migrate` restores the row in any
    case (reminders_app.schedule.ensure_schedule).
    """

    form = ScheduleForm

    @staticmethod
    def _is_reminder_schedule(obj) -> bool:
        return obj is not None and obj.name == SCHEDULE_NAME

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self._is_reminder_schedule(obj):
            fields += [name for name in ["name", *FIXED_FIELDS] if name not in fields]
        return fields

    def has_delete_permission(self, request, obj=None):
        if self._is_reminder_schedule(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        """Refuse "delete selected" when the reminder schedule is among the rows."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(self._is_reminder_schedule(obj) for obj in objs):
            perms_needed.add(f"the reminder schedule {SCHEDULE_NAME!r}")
        return deleted, model_count, perms_needed, protected
