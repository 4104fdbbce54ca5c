"""django-q2's admins: on the hourly schedule staff may pause it or move its next
run, nothing else; no schedule may name a function the cluster may not run; only
superusers resubmit stored tasks."""

from django import forms
from django.contrib import admin
from django.utils.text import capfirst
from django_q.admin import FailAdmin as DjangoQFailAdmin
from django_q.admin import ScheduleAdmin as DjangoQScheduleAdmin
from django_q.admin import TaskAdmin as DjangoQTaskAdmin
from django_q.models import Failure, Schedule, Success

from reminders_app.admin.common import located
from reminders_app.allowed import (
    JOB_ONLY_MESSAGE,
    guard_on,
    is_allowed,
    names_the_job,
    not_allowed_message,
)
from reminders_app.schedule import FIXED_FIELDS, SCHEDULE_NAME, off_the_hour


class ScheduleForm(forms.ModelForm):
    """Every schedule runs an allowed function (reminders_app.allowed), whoever
    saves it: the cluster would refuse any other, and any schedule but the job's own
    that names the job. The job's own runs at minute 0."""

    def clean_func(self):
        func = self.cleaned_data.get("func")
        if func and not is_allowed(func):
            raise forms.ValidationError(not_allowed_message(func))
        if func and guard_on() and names_the_job(func):  # the job's own row shows it read-only
            raise forms.ValidationError(capfirst(JOB_ONLY_MESSAGE))
        return func

    def clean_next_run(self):
        next_run = self.cleaned_data.get("next_run")
        if self.instance.name == SCHEDULE_NAME and next_run and off_the_hour(next_run):
            raise forms.ValidationError(
                "The reminder job runs every hour at minute 0 (UTC): give a time at minute 0."
            )
        return next_run

    def clean_hook(self):
        hook = self.cleaned_data.get("hook")
        if hook and not is_allowed(hook):
            raise forms.ValidationError(not_allowed_message(hook))
        return hook

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


class SuperusersResubmit:
    """django-q2 offers "Resubmit selected tasks to queue" to anyone who may view
    stored tasks; it queues the stored function with its stored arguments again, so
    only superusers get it."""

    def get_actions(self, request, action_location=None):
        actions = super().get_actions(request, **located(action_location))
        if not request.user.is_superuser:
            actions.pop("resubmit_task", None)
        return actions


admin.site.unregister(Success)
admin.site.unregister(Failure)


@admin.register(Success)
class SuccessAdmin(SuperusersResubmit, DjangoQTaskAdmin):
    pass


@admin.register(Failure)
class FailureAdmin(SuperusersResubmit, DjangoQFailAdmin):
    pass
