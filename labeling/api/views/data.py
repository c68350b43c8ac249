"""Staff data endpoints: prompts, tasks, choices, imports and preference exports."""

import json

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import services
from labeling.api import selectors
from labeling.api.base import ProjectScoped, responses, validated
from labeling.api.serializers import (
    ChoiceFilters,
    ChoiceOut,
    INT_MAX,
    ExportIn,
    ExportOut,
    ImportErrors,
    PromptOut,
    TaskOut,
    export_filters,
)
from labeling.models import ComparisonTask
from labeling.services import exports, parsing


@extend_schema_view(get=extend_schema(summary="Prompts", responses=responses(PromptOut(many=True))))
class PromptList(ProjectScoped, generics.ListAPIView):
    serializer_class = PromptOut

    def get_queryset(self):
        return selectors.prompts_of(project=self.project)


PAGING = ("page", "page_size")


class TaskFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=ComparisonTask.Status.choices, required=False)
    policy_version = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False,
                                              help_text="0: imported")


@extend_schema_view(get=extend_schema(summary="Tasks with their four completions", parameters=[TaskFilters],
                                      responses=responses(TaskOut(many=True), 400)))
class TaskList(ProjectScoped, generics.ListAPIView):
    serializer_class = TaskOut

    def get_queryset(self):
        data = validated(TaskFilters, self.request.query_params, also_allowed=PAGING)
        return selectors.tasks_of(project=self.project, status=data.get("status"),
                                  policy_version=data.get("policy_version"))


@extend_schema_view(get=extend_schema(
    summary="Choices", description="Skipped and flagged ones only when asked for.",
    parameters=[ChoiceFilters], responses=responses(ChoiceOut(many=True), 400),
))
class ChoiceList(ProjectScoped, generics.ListAPIView):
    serializer_class = ChoiceOut

    def get_queryset(self):
        filters = export_filters(validated(ChoiceFilters, self.request.query_params, also_allowed=PAGING))
        try:
            return selectors.choices_of(project=self.project, filters=filters)
        except exports.ExportError as exc:
            raise ValidationError({"detail": str(exc)}) from None


class ImportIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["prompts", "comparisons"])
    file = serializers.FileField(help_text="prompts: JSONL, CSV or Parquet; comparisons: JSONL or Parquet; "
                                 "at most QUARTET_MAX_UPLOAD_MB. Chat projects: conversations under 'prompt' or "
                                 "'messages' (a list of messages ending in a user turn); completions strings or "
                                 "assistant messages")

    def validate_file(self, upload):
        if problem := parsing.upload_size_error(upload.name, upload.size):
            raise serializers.ValidationError(problem)
        return upload


class ImportOut(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="skipped: already in the project or repeated")
    prompts_created = serializers.IntegerField()
    prompts_reused = serializers.IntegerField()


class ImportCreate(ProjectScoped, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import prompts or pre-sampled comparisons",
        description="All or nothing: a bad row aborts the import and every problem is listed "
        "with its line and field.",
        request={"multipart/form-data": ImportIn},
        responses={**responses(ImportOut, status=201),
                   400: OpenApiResponse(ImportErrors, description="nothing was imported"),
                   413: OpenApiResponse(ImportErrors, description="the upload is over the size cap")},
    )
    def post(self, request, slug):
        # Refused before the body is read: an upload over the cap never reaches the disk.
        if problem := parsing.upload_size_error("The upload", parsing.declared_length(request.META)):
            return Response({"detail": "Nothing was imported.", "errors": [problem]}, status=413)
        data = validated(ImportIn, request.data)
        service = services.prompts_import if data["kind"] == "prompts" else services.comparisons_import
        upload = data["file"]
        try:
            result = service(project=self.project, source=upload, name=upload.name)
        except services.ImportValidationError as exc:
            return Response({"detail": "Nothing was imported.", "errors": exc.errors}, status=400)
        except UnicodeDecodeError as exc:  # a binary file sent as text
            errors = [f"{upload.name}: cannot be read as UTF-8 text ({exc.reason})"]
            return Response({"detail": "Nothing was imported.", "errors": errors}, status=400)
        return Response(ImportOut(result).data, status=201)


@extend_schema_view(
    get=extend_schema(summary="Stored exports, newest first", responses=responses(ExportOut(many=True))),
    post=extend_schema(
        summary="Export choices as a preference data set",
        description="listwise: one row per choice (prompt, completions, best, …), read by "
        "Quartet's reward round. pairwise: prompt, chosen, rejected, as TRL's RewardTrainer and "
        "DPOTrainer read them. Chat projects export conversations in TRL's conversational "
        "format: prompt is a list of messages, chosen and rejected one assistant message each "
        "(as a one-element list), listwise completions four assistant messages. Download the file by its name.",
        request=ExportIn, responses=responses(ExportOut, 400, status=201),
    ),
)
class ExportList(ProjectScoped, generics.ListAPIView):
    serializer_class = ExportOut

    def get_queryset(self):
        return exports.exports_stored(project=self.project)

    def post(self, request, slug):
        data = validated(ExportIn, request.data)
        try:
            result = exports.preferences_export_stored(
                project=self.project, format=data["format"], file_format=data["file_format"],
                filters=export_filters(data), reveal_annotators=data["reveal_annotators"],
            )
        except exports.ExportError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(ExportOut(result.manifest).data, status=201)


class FileRenderer(BaseRenderer):
    """Lets clients ask for the file itself (Accept: application/octet-stream)."""

    media_type = "application/octet-stream"
    format = "file"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if isinstance(data, dict) else data


class ExportDownload(ProjectScoped, APIView):
    renderer_classes = [JSONRenderer, FileRenderer]

    @extend_schema(
        summary="Download a stored export",
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH,
                                     description="the export's `file`")],
        responses=responses(OpenApiTypes.BINARY, media_type="application/octet-stream"),
    )
    def get(self, request, slug, name):
        path = exports.export_stored_path(project=self.project, name=name)
        if path is None:
            raise NotFound("No such export.")
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name,
                            content_type="application/octet-stream")
