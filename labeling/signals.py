"""Hooks into Django's own events, each handing off to one service. Signals only where the event
has many sources: a password changes in the admin, the password-change page, the
``changepassword`` command or any ``set_password`` call; a connection opens anywhere."""

from django.contrib.auth import get_user_model
from django.db.backends.signals import connection_created
from django.db.models.signals import pre_save
from django.dispatch import receiver

from labeling.services.accounts import sqlite_file_private, user_credentials_changed


@receiver(pre_save, sender=get_user_model(), dispatch_uid="labeling.user_credentials")
def _user_saved(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login on every login: no extra query
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    user_credentials_changed(
        user_id=instance.pk,
        password_changed=before["password"] != instance.password,
        deactivated=before["is_active"] and not instance.is_active,
    )


@receiver(connection_created, dispatch_uid="labeling.sqlite_private")
def _connection_created(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        sqlite_file_private(str(connection.settings_dict["NAME"]))
