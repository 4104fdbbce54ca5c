from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class RemindersAppConfig(AppConfig):
    name = "reminders_app"
    verbose_name = "Reminders"
    # The app's own ids, whatever the host's DEFAULT_AUTO_FIELD: a host on AutoField
    # gets no migration to make inside site-packages.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django_q.signals import post_execute_in_worker, pre_enqueue, pre_execute

        from reminders_app import (
            allowed,
            checks,  # noqa: F401  (registers the system checks)
        )
        from reminders_app.schedule import restore_schedule_after_migrate

        # The cluster runs only the functions reminders_app.allowed allows, whatever
        # a schedule row or a queued task names.
        pre_execute.connect(allowed.refuse_unlisted, dispatch_uid="reminders_app.refuse")
        post_execute_in_worker.connect(allowed.record_refusal, dispatch_uid="reminders_app.refused")
        pre_enqueue.connect(allowed.queue_refused_tasks, dispatch_uid="reminders_app.queue")

        # Providers' bounces and complaints, when django-anymail (the [anymail] extra) is
        # installed: without it the app works the same, without those webhooks.
        try:
            from reminders_app import webhooks
        except ModuleNotFoundError as exc:
            if exc.name != "anymail":
                raise
        else:
            webhooks.connect()

        # Every `migrate` restores the hourly schedule if it is missing or altered.
        post_migrate.connect(restore_schedule_after_migrate, sender=self)
        if apps.is_installed("django.contrib.admin"):
            from reminders_app.admin.host import extend_host_admins

            # The host's task and user admins, registered by now (the admin app,
            # first in INSTALLED_APPS, imported every admin module in its ready()).
            extend_host_admins()
