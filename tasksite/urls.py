from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reminders_app.urls")),
]

# Mail providers' tracking webhooks (django-anymail's own views: a bounce or a complaint
# stops mail to the address, reminders_app.webhooks), only behind the basic-auth secret
# every provider must then send: without one they answer 404.
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    urlpatterns.append(path("anymail/", include("anymail.urls")))
