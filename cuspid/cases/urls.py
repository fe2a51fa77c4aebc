from django.urls import path

from cuspid.cases import views
from cuspid.cases.views import (
    approvals,
    compare,
    insights,
    packages,
    review,
    review_links,
    suggestions,
    viewer,
)

app_name = "cases"

urlpatterns = [
    path("cases/", views.case_list, name="case_list"),
    path("cases/new/", views.case_new, name="case_new"),
    path("cases/<uuid:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<uuid:case_id>/edit/", views.case_edit, name="case_edit"),
    path("cases/<uuid:case_id>/files/", views.case_files, name="case_files"),
    path("cases/<uuid:case_id>/send/", views.case_send_page, name="case_send"),
    path("cases/<uuid:case_id>/actions/", views.case_transition_page, name="case_transition"),
    path("cases/<uuid:case_id>/revisions/new/", views.revision_new, name="revision_new"),
    path("files/<uuid:attachment_id>/", views.attachment_download, name="attachment_download"),
]

# Review and approval (issue 8): each page module lists its own patterns.
urlpatterns += [
    *viewer.urlpatterns,
    *review.urlpatterns,
    *approvals.urlpatterns,
    *packages.urlpatterns,
    *review_links.urlpatterns,
    *compare.urlpatterns,
    *insights.urlpatterns,
]

# AI suggestions (issue 9).
urlpatterns += suggestions.urlpatterns
