from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<str:run_id>/", views.run_detail, name="run"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<str:token_id>/decide", views.decide, name="decide"),
]
