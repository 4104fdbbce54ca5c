"""The app's public URLs: include them at the site's root, as tasksite does:
`path("", include("reminders_app.urls"))`. `unsubscribe` is reversed by name for the
link each mail carries."""

from django.urls import path

from reminders_app import views

urlpatterns = [
    path("readyz", views.readyz, name="readyz"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
