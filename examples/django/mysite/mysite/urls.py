# ruwsgi --http 127.0.0.1:8000 --home target/venv --chdir2 examples/django/mysite --module mysite.wsgi
"""URL configuration: the admin, one view and a CSRF-protected form."""
from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("hello/", views.hello),
    path("form/", views.form),
]
