from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("login/", login_not_required(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # The OpenAPI schema and its docs are generated from the views, and public like the docs.
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="api_schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("api/docs/", login_not_required(SpectacularSwaggerSplitView.as_view(url_name="api_schema")),
         name="api_docs"),
    path("api/", include("labeling.api.urls")),
    path("", include("labeling.urls")),
]
