"""Addresses not to mail (Suppression): staff list, search, add and delete them, each
behind Django's model permissions (the "Reminder viewers" group may only view).
Deleting one lets mail to the address go again; a row is never edited (delete it and
add another)."""

from django import forms
from django.contrib import admin

from reminders_app.models import Suppression
from reminders_app.suppressions import matching

# What a suppression added here says of its origin (never the staff member's name).
STAFF = "staff"


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["address", "reason"]

    def clean_address(self):
        """One suppression per address, whatever its case (the index's own rule, said
        in words rather than by the constraint's name)."""
        address = self.cleaned_data["address"].strip()
        if matching(address).exists():
            raise forms.ValidationError("This address is suppressed already.")
        return address


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionForm
    list_display = ["address", "reason", "source", "created_at"]
    list_filter = ["reason"]
    search_fields = ["address"]
    search_help_text = "Part of an address, in any case."
    date_hierarchy = "created_at"
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = ["source", "created_at"]

    def get_fields(self, request, obj=None):
        return (
            ["address", "reason"] if obj is None else ["address", "reason", "source", "created_at"]
        )

    def get_changeform_initial_data(self, request):
        return {"reason": Suppression.Reason.MANUAL, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None):
        """Read-only once made: a suppression is added or deleted, not edited."""
        return False

    def save_model(self, request, obj, form, change):
        obj.source = STAFF
        super().save_model(request, obj, form, change)
