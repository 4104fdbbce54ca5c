from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from members.models import Member


class MemberCreationForm(BaseUserCreationForm):
    class Meta:
        model = Member
        fields = ["email"]


class MemberChangeForm(UserChangeForm):
    class Meta:
        model = Member
        fields = "__all__"


@admin.register(Member)
class MemberAdmin(UserAdmin):
    form = MemberChangeForm
    add_form = MemberCreationForm
    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff"]
    search_fields = ["email", "display_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "joined", "last_login"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
    ]
    add_fieldsets = [(None, {"fields": ["email", "password1", "password2"]})]
