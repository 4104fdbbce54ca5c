"""People's reminder preferences: their own list, and a section on each user's page."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model

from reminders_app.conf import settings
from reminders_app.models import ReminderPreference, time_zone_names

# What a person chooses, in the order the form and the list show it.
PREFERENCES = ["time_zone", "email_enabled", "language", "digest", "quiet_start", "quiet_end"]


class ReminderPreferenceForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        required=False,
        help_text="Due times in reminder mails are shown in this zone. Default: the "
        "site's zone, named in the choice.",
    )
    # One of LANGUAGES, checked here rather than by the model's choices (a host's
    # LANGUAGES would otherwise need a migration of its own).
    language = forms.ChoiceField(
        required=False,
        help_text="Reminder mails, and the unsubscribe page they link to, are written in "
        "this language. Default: the site's, named in the choice.",
    )

    class Meta:
        model = ReminderPreference
        fields = ["user", *PREFERENCES]

    def clean(self):
        """Quiet hours: both times or neither, and not the same time (no span)."""
        data = super().clean()
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if (start is None) != (end is None):
            raise forms.ValidationError("Give quiet hours both a start and an end, or neither.")
        if start is not None and start == end:
            raise forms.ValidationError("Quiet hours must end at another time than they start.")
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = f"Default ({settings.REMINDER_DEFAULT_TIME_ZONE})"
        self.fields["time_zone"].choices = [("", default)] + [
            (name, name) for name in sorted(time_zone_names())
        ]
        site = dict(settings.LANGUAGES).get(settings.LANGUAGE_CODE, settings.LANGUAGE_CODE)
        self.fields["language"].choices = [("", f"Default ({site})"), *settings.LANGUAGES]


class ReminderPreferenceInline(admin.StackedInline):
    """On a user's page: their reminder preference (none means the defaults)."""

    model = ReminderPreference
    form = ReminderPreferenceForm
    can_delete = False
    max_num = 1
    verbose_name_plural = "reminder preference"


@admin.register(ReminderPreference)
class ReminderPreferenceAdmin(admin.ModelAdmin):
    form = ReminderPreferenceForm
    list_display = ["user", *PREFERENCES, "updated_at"]
    list_filter = ["email_enabled", "digest"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    show_facets = admin.ShowFacets.NEVER

    def get_search_fields(self, request):
        """A person's login, whatever the user model calls it (USERNAME_FIELD)."""
        return [f"user__{get_user_model().USERNAME_FIELD}"]
