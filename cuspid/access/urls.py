from django.urls import path

from cuspid.access import views

app_name = "access"

urlpatterns = [
    path("break-glass/", views.break_glass, name="break_glass"),
]
