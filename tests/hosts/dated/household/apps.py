from django.apps import AppConfig


class HouseholdConfig(AppConfig):
    name = "household"
