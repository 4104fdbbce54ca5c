from django.contrib import admin
from django.urls import path

from reminders_app import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("readyz", views.readyz, name="readyz"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
